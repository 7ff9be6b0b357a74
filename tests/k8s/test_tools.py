"""The pinned test programs other suites rely on: the collector's components and `validate`, helm's
Kubernetes version, promtool's rule tests."""
import subprocess
import textwrap

from k8sharness import tool, validate_collector_config


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, **kw)


def test_otelcol_components():
    out = run(tool("otelcol"), "components").stdout
    for kind, names in {"receivers": ["otlp"], "processors": ["batch", "memory_limiter", "attributes"],
                        "exporters": ["file", "debug", "otlp_grpc", "otlp_http"]}.items():
        section = out.split(f"{kind}:")[1]
        for n in names:
            assert f"name: {n}\n" in section, (kind, n, out)


COLLECTOR = """\
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:4317}
      http: {endpoint: 127.0.0.1:4318}
processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80, spike_limit_percentage: 20}
  batch: {send_batch_size: 512, timeout: 1s}
  attributes:
    actions:
      - {key: k8s.cluster.name, value: test, action: upsert}
exporters:
  file: {path: %s}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, attributes, batch], exporters: [file]}
"""


def test_otelcol_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(COLLECTOR % (tmp_path / "out.jsonl"))
    r = run(tool("otelcol"), "validate", f"--config=file:{good}")
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text((COLLECTOR % (tmp_path / "out.jsonl")).replace("limit_percentage: 80", "limit_percentage: 180"))
    r = run(tool("otelcol"), "validate", f"--config=file:{bad}")
    assert r.returncode != 0 and "memory_limiter" in r.stderr, r.stderr


def test_validate_collector_config_without_k8sattributes(tmp_path):
    """The test collector has no k8sattributes processor: validate_collector_config takes it out (and only
    it) and validates the rest, so a broken setting elsewhere still fails."""
    cfg = (COLLECTOR % (tmp_path / "out.jsonl")).replace(
        "  attributes:", "  k8sattributes:\n    extract: {metadata: [k8s.pod.name]}\n  attributes:").replace(
        "processors: [memory_limiter, attributes, batch]", "processors: [memory_limiter, k8sattributes, attributes, batch]")
    (tmp_path / "c.yaml").write_text(cfg)
    r = run(tool("otelcol"), "validate", f"--config=file:{tmp_path / 'c.yaml'}")
    assert r.returncode != 0 and "k8sattributes" in r.stderr, r.stderr
    r, dropped = validate_collector_config(tmp_path / "c.yaml")
    assert dropped == ["k8sattributes"] and r.returncode == 0, r.stderr
    (tmp_path / "c.yaml").write_text(cfg.replace("send_batch_size: 512", "send_batch_size: -5"))
    r, dropped = validate_collector_config(tmp_path / "c.yaml")
    assert r.returncode != 0, r.stderr


def test_helm_kube_version(tmp_path):
    assert "v3.22.0" in run(tool("helm"), "version", "--short").stdout
    chart = tmp_path / "c"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\nkubeVersion: '>=1.37.0-0'\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {kube: '{{ .Capabilities.KubeVersion }}'}\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    r = run(tool("helm"), "template", "x", chart, env=env)
    assert r.returncode == 0, r.stderr
    assert "kube: 'v1.37.0'" in r.stdout, r.stdout


def test_promtool_rule_tests(tmp_path):
    (tmp_path / "rules.yaml").write_text(textwrap.dedent("""\
        groups:
          - name: t
            rules:
              - alert: Held
                expr: fixgw_held > 0
                for: 1m
        """))
    (tmp_path / "test.yaml").write_text(textwrap.dedent("""\
        rule_files: [rules.yaml]
        evaluation_interval: 1m
        tests:
          - interval: 1m
            input_series:
              - {series: 'fixgw_held{route="a"}', values: '0 1 1 1'}
            alert_rule_test:
              - {eval_time: 3m, alertname: Held, exp_alerts: [{exp_labels: {route: a}}]}
        """))
    r = run(tool("promtool"), "test", "rules", "test.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    # and a wrong expectation fails, so the check has teeth
    t = tmp_path / "test.yaml"
    t.write_text(t.read_text().replace("eval_time: 3m", "eval_time: 1m"))
    assert run(tool("promtool"), "test", "rules", "test.yaml", cwd=tmp_path).returncode != 0
