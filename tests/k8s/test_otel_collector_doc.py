"""docs/reference/otel-collector-setup.md: every YAML block on the page is checked by what would use it.

- Helm values (a block whose top key is `otel`): `helm template` of the chart with them succeeds; the first
  one must render exactly the collector configuration the page shows as "the file" (the block with
  `receivers`), compared as parsed YAML, for a release in namespace fixgw.
- A complete collector configuration (top key `receivers`) passes the real collector's `validate`.
- A fragment (only `processors`, `exporters` and/or `service`) is merged into that complete configuration
  (mappings merged key by key, anything else replaced) and the result passes `validate`.
- Kubernetes manifests (`apiVersion` and `kind`) are applied with `kubectl apply --dry-run=server` to the
  real kube-apiserver, in the namespace they name (created for the test).
The test collector is built without k8sattributes and tail_sampling (collector-contrib modules this machine
cannot build, docs/internals/test-harness.md): k8sharness.validate_collector_config takes processors it lacks
out of the configuration and its pipelines first, and the test asserts that those two are the only ones."""
import copy

import pytest
import yaml

import k8sharness
from test_helm import CHART, find, helm, helm_env  # noqa: F401 (helm_env is a fixture)

DOC = k8sharness.ROOT / "docs" / "reference" / "otel-collector-setup.md"
NOT_IN_TEST_COLLECTOR = {"k8sattributes", "tail_sampling"}


def yaml_blocks():
    text = DOC.read_text()
    out, inside, lines, start = [], False, [], 0
    for n, line in enumerate(text.split("\n"), 1):
        if not inside and line.strip() == "```yaml":
            inside, lines, start = True, [], n
        elif inside and line.strip() == "```":
            inside = False
            out.append((start, "\n".join(lines)))
        elif inside:
            lines.append(line)
    return out


def kind(doc):
    if "apiVersion" in doc and "kind" in doc:
        return "manifest"
    if "otel" in doc:
        return "values"
    if "receivers" in doc:
        return "config"
    if set(doc) <= {"processors", "exporters", "service"}:
        return "fragment"
    return "unknown"


def blocks_by_kind():
    out = {}
    for line, text in yaml_blocks():
        docs = [d for d in yaml.safe_load_all(text) if d]
        out.setdefault(kind(docs[0]), []).append((line, text, docs))
    return out


def merge(base, extra):
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def validate(tmp_path, cfg, line):
    path = tmp_path / f"config-{line}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r, dropped = k8sharness.validate_collector_config(path)
    assert r.returncode == 0, f"{DOC.name}:{line}: {r.stderr}"
    assert set(dropped) <= NOT_IN_TEST_COLLECTOR, dropped
    return dropped


def test_page_has_each_kind_of_block():
    got = blocks_by_kind()
    assert "unknown" not in got, got.get("unknown")
    assert len(got["config"]) == 1 and got["fragment"] and got["manifest"] and len(got["values"]) >= 2


def test_collector_configs_validate(tmp_path):
    got = blocks_by_kind()
    ((line, _, (base,)),) = got["config"]
    dropped = set(validate(tmp_path, base, line))
    for line, _, (frag,) in got["fragment"]:
        dropped |= set(validate(tmp_path, merge(base, frag), line))
    assert dropped == NOT_IN_TEST_COLLECTOR  # both are on the page, and nothing else was left out


def test_values_render_the_config_shown(helm_env, tmp_path):  # noqa: F811
    got = blocks_by_kind()
    ((_, _, (shown,)),) = got["config"]
    for i, (line, text, _) in enumerate(got["values"]):
        values = tmp_path / f"values-{line}.yaml"
        values.write_text(text)
        out = helm(helm_env, "template", "fixgw", CHART, "--namespace", "fixgw", "-f", values).stdout
        objs = [d for d in yaml.safe_load_all(out) if d]
        if i == 0:
            (cm,) = find(objs, "ConfigMap", "otel-collector")
            assert cm["metadata"]["name"] == "fixgw-fix-gateway-otel-collector"
            assert yaml.safe_load(cm["data"]["otel-collector-config.yaml"]) == shown, f"{DOC.name}:{line}"
        else:
            (gw,) = find(objs, "ConfigMap", "gateway")
            tel = yaml.safe_load(gw["data"]["fixgw.yaml"])["telemetry"]
            assert tel["endpoint"] == yaml.safe_load(text)["otel"]["collectorEndpoint"], tel


def test_manifests_accepted_by_apiserver(k8s):
    for line, text, docs in blocks_by_kind()["manifest"]:
        for ns in {d["metadata"].get("namespace") for d in docs} - {None}:
            if not k8s.get(f"/api/v1/namespaces/{ns}", missing_ok=True):
                k8s.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        r = k8s.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
        assert r.stdout.count("(server dry run)") == len(docs), f"{DOC.name}:{line}: {r.stdout}"


@pytest.mark.parametrize("broken", ["exporters:\n  otlp/x:\n    endpointt: a:1\n", "processors:\n  batch:\n    timeout: soon\n"])
def test_a_broken_fragment_fails(tmp_path, broken):
    """The check means something: a misspelled key or a bad value fails the real collector's validate."""
    ((_, _, (base,)),) = blocks_by_kind()["config"]
    cfg = merge(base, yaml.safe_load(broken))
    if "otlp/x" in str(broken):
        cfg["service"]["pipelines"]["traces"]["exporters"] = ["otlp/x"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r, _ = k8sharness.validate_collector_config(path)
    assert r.returncode != 0
