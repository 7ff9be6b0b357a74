"""The Helm chart (deploy/helm/fix-gateway) with the pinned helm and the real kube-apiserver: lint, rendering
in both gateway modes and with TLS and the reject engine on and off, the PrometheusRule equal to the alert rule
file, the values schema refusing bad values, every rendered object accepted by `kubectl apply --dry-run=server`,
the chart's CRD identical to crds/fixsession-crd.yaml, and the chart's processes started exactly as the chart configures them (args, env,
config file) so the chart and the binary cannot drift apart."""
import importlib.util
import json
import os
import socket
import subprocess

import pytest
import yaml

import chartrun
import k8sharness
from fixmsg import logon
from gwharness import recv_exactly, wait_until

ROOT = k8sharness.ROOT
_OTEL = ROOT / "tests" / "otel" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_otel_conftest", _OTEL)
otel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(otel)
CHART = ROOT / "deploy" / "helm" / "fix-gateway"
GROUP = "/apis/fixgw.io/v1alpha1"

TLS_ONLY = ["--set", "gateway.listeners[0].name=fix-tls", "--set", "gateway.listeners[0].port=9876",
            "--set", "gateway.listeners[0].tls.enabled=true", "--set", "gateway.listeners[0].tls.secretName=gw-tls"]


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory):
    """helm's caches and config in directories of this run, so nothing outside the test is read or written."""
    d = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    for k in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        (d / k).mkdir()
        env[k] = str(d / k)
    return env


def helm(helm_env, *args, check=True):
    r = subprocess.run([str(k8sharness.tool("helm")), *map(str, args)], capture_output=True, text=True,
                       env=helm_env, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
    return r


def render(helm_env, *values, ns="fixgw", release="fgw"):
    """helm template: (the YAML text, [the objects])."""
    text = helm(helm_env, "template", release, CHART, "--namespace", ns, *values).stdout
    return text, [d for d in yaml.safe_load_all(text) if d]


def find(objs, kind, component=None):
    return [o for o in objs if o["kind"] == kind and (
        component is None or o["metadata"]["labels"]["app.kubernetes.io/component"] == component)]


def test_lint_strict(helm_env):
    r = helm(helm_env, "lint", "--strict", CHART)
    assert "0 chart(s) failed" in r.stdout, r.stdout


def test_chart_crd_is_the_repository_crd():
    """Helm 3 installs crds/ before the templates; the chart's copy must be byte-identical to the source."""
    chart_crds = sorted(p.name for p in (CHART / "crds").iterdir())
    assert chart_crds == ["fixsession-crd.yaml"]
    assert (CHART / "crds" / "fixsession-crd.yaml").read_bytes() == (ROOT / "crds" / "fixsession-crd.yaml").read_bytes()


def test_deployment_mode_defaults(helm_env):
    _, objs = render(helm_env)
    assert not find(objs, "DaemonSet")
    (dep,) = find(objs, "Deployment", "gateway")
    (hpa,) = find(objs, "HorizontalPodAutoscaler")
    assert "replicas" not in dep["spec"]  # the HPA owns it
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    aff = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert aff["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    # security: non-root, seccomp, read-only root, no capabilities
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False
    # probes on the admin endpoints, drain = preStop + shutdownGracePeriod
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == 10
    assert pod["terminationGracePeriodSeconds"] == 10 + 300 + 10
    (cm,) = find(objs, "ConfigMap", "gateway")
    cfg = yaml.safe_load(cm["data"]["fixgw.yaml"])
    (admin,) = [s for s in find(objs, "Service", "gateway") if s["spec"]["type"] == "ClusterIP"]
    assert cfg["kubernetes"] == {"inCluster": True, "routes": "published",
                                 "routingTable": {"namespace": "fixgw", "name": "fgw-fix-gateway-routing-table"},
                                 "gatewayService": f"fixgw/{admin['metadata']['name']}"}
    assert cfg["shutdownGracePeriod"] == "300s" and cfg["holdTimeout"] == "30s"
    assert cfg["maxHeldConnectionsPerPod"] == 500
    tls = next(x for x in cfg["listeners"] if x["name"] == "fix-tls")["tls"]
    assert tls["certFile"] == "/etc/fixgw/tls/fix-tls/tls.crt"
    vol = next(v for v in pod["volumes"] if v["name"] == "tls-fix-tls")
    assert vol["secret"]["secretName"] == "fix-gateway-tls"
    assert c["image"] == f"fixgw:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    for o in objs:  # the standard labels everywhere
        labels = o["metadata"]["labels"]
        for k in ("name", "instance", "component", "version", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{k}" in labels, (o["kind"], o["metadata"]["name"], k)
    # two Services: the L4 one for the listeners, the admin one apart
    (svc,) = [s for s in find(objs, "Service", "gateway") if s["spec"]["type"] == "LoadBalancer"]
    assert [p["port"] for p in svc["spec"]["ports"]] == [9876, 9877]
    (admin,) = [s for s in find(objs, "Service", "gateway") if s["spec"]["type"] == "ClusterIP"]
    assert [p["port"] for p in admin["spec"]["ports"]] == [9090]
    (op,) = find(objs, "Deployment", "operator")
    assert op["spec"]["replicas"] == 2
    args = op["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["operator", "--lease-namespace"] and "--kubeconfig" not in args
    assert args[args.index("--id") + 1] == "$(POD_NAME)"


def test_operator_connection_counts_wiring(helm_env):
    """The operator asks the gateways' admin Service's pods for connection counts: its args name that Service
    and its port, its ClusterRole reads EndpointSlices (the gateway namespace's too), and the NetworkPolicies
    let it reach the gateways' admin port; switched off, the flags are gone."""
    _, objs = render(helm_env, "--set", "operator.connectionCounts.expiryMs=3600000")
    (op,) = find(objs, "Deployment", "operator")
    args = op["spec"]["template"]["spec"]["containers"][0]["args"]
    (admin,) = [s for s in find(objs, "Service", "gateway") if s["spec"]["type"] == "ClusterIP"]
    assert args[args.index("--gateway-service") + 1] == f"fixgw/{admin['metadata']['name']}"
    port = args[args.index("--gateway-admin-port") + 1]
    assert port in [p["name"] for p in admin["spec"]["ports"]]
    assert args[args.index("--gateway-expiry-ms") + 1] == "3600000"  # an integer, never "3.6e+06"
    assert [args[args.index(f) + 1] for f in ("--gateway-scrape-ms", "--counts-qps", "--counts-burst")] == \
        ["5000", "10", "20"]
    (role,) = find(objs, "ClusterRole", "operator")
    assert any("endpointslices" in r["resources"] and {"list", "watch"} <= set(r["verbs"]) for r in role["rules"])
    (gw_np,) = find(objs, "NetworkPolicy", "gateway")
    (op_np,) = find(objs, "NetworkPolicy", "operator")
    admin_port = admin["spec"]["ports"][0]["port"]
    op_labels = op["spec"]["selector"]["matchLabels"]
    assert any({"protocol": "TCP", "port": admin_port} in r["ports"] and
               any(p.get("podSelector", {}).get("matchLabels") == op_labels for p in r.get("from", []))
               for r in gw_np["spec"]["ingress"])
    assert any({"protocol": "TCP", "port": admin_port} in r.get("ports", []) for r in op_np["spec"]["egress"])
    _, objs = render(helm_env, "--set", "operator.connectionCounts.enabled=false")
    (op,) = find(objs, "Deployment", "operator")
    assert not [a for a in op["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--gateway")]


def test_daemonset_mode_required_anti_affinity_no_hpa(helm_env):
    _, objs = render(helm_env, "--set", "gateway.mode=daemonset")
    assert not find(objs, "Deployment", "gateway") and not find(objs, "HorizontalPodAutoscaler")
    assert not find(objs, "PodDisruptionBudget", "gateway")
    (ds,) = find(objs, "DaemonSet")
    assert ds["spec"]["template"]["spec"]["containers"][0]["args"][0] == "gateway"
    _, objs = render(helm_env, "--set", "gateway.antiAffinity.type=required", "--set", "gateway.autoscaling.enabled=false")
    (dep,) = find(objs, "Deployment", "gateway")
    assert dep["spec"]["replicas"] == 3 and not find(objs, "HorizontalPodAutoscaler")
    assert "requiredDuringSchedulingIgnoredDuringExecution" in dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]


def test_reject_engine_toggle(helm_env):
    _, on = render(helm_env, "--set", "defaultRejectEngine.rejectReason=Unknown CompID",
                   "--set", "defaultRejectEngine.maskTags={553}")
    (dep,) = find(on, "Deployment", "reject-engine")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["reject-engine", "--listen", ":9881", "--admin", ":9091", "--reason", "Unknown CompID",
                    "--mask-tag", "553"]
    assert dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    (fs,) = find(on, "FIXSession")
    assert fs["spec"]["priority"] == -1000000 and "matchFields" not in fs["spec"]
    assert find(on, "NetworkPolicy", "reject-engine")
    _, off = render(helm_env, "--set", "defaultRejectEngine.enabled=false")
    assert not find(off, "Deployment", "reject-engine") and not find(off, "FIXSession")
    assert not find(off, "NetworkPolicy", "reject-engine") and not find(off, "ServiceAccount", "reject-engine")


def test_telemetry_on_and_off(helm_env):
    _, objs = render(helm_env)
    cfg = yaml.safe_load(find(objs, "ConfigMap", "gateway")[0]["data"]["fixgw.yaml"])
    assert cfg["telemetry"] == {"endpoint": "otel-collector.observability:4317", "protocol": "grpc",
                                "insecure": False, "traceRatio": 1}
    assert find(objs, "ConfigMap", "otel-collector")
    _, objs = render(helm_env, "--set", "otel.protocol=http", "--set", "otel.collectorEndpoint=c.obs:4318",
                     "--set", "otel.tlsSecretName=otel-ca")
    cfg = yaml.safe_load(find(objs, "ConfigMap", "gateway")[0]["data"]["fixgw.yaml"])
    assert cfg["telemetry"]["endpoint"] == "https://c.obs:4318" and cfg["telemetry"]["protocol"] == "http/protobuf"
    assert cfg["telemetry"]["caFile"] == "/etc/fixgw/otel-tls/ca.crt"
    pod = find(objs, "Deployment", "gateway")[0]["spec"]["template"]["spec"]
    assert {"name": "otel-tls", "secret": {"secretName": "otel-ca"}} in pod["volumes"]
    _, objs = render(helm_env, "--set", "otel.enabled=false")
    cfg = yaml.safe_load(find(objs, "ConfigMap", "gateway")[0]["data"]["fixgw.yaml"])
    assert "telemetry" not in cfg and not find(objs, "ConfigMap", "otel-collector")


@pytest.mark.parametrize("values", [[], ["--set", "otel.collectorConfig.clusterName=prod-1",
                                          "--set", "otel.collectorConfig.memoryLimitPercentage=20"]])
def test_collector_config_validates(helm_env, tmp_path, values):
    """The chart's collector configuration passes the real collector's `validate` (k8sattributes, which the
    test collector lacks, taken out first: k8sharness.validate_collector_config)."""
    _, objs = render(helm_env, *values)
    (cm,) = find(objs, "ConfigMap", "otel-collector")
    path = tmp_path / "otel-collector-config.yaml"
    path.write_text(cm["data"]["otel-collector-config.yaml"])
    r, dropped = k8sharness.validate_collector_config(path)
    assert r.returncode == 0, r.stderr
    assert dropped == ["k8sattributes"]


def test_rbac_least_privilege(helm_env):
    _, objs = render(helm_env)
    gw = next(o for o in find(objs, "ClusterRole", "gateway"))
    assert {v for r in gw["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    # the gateway follows the operator's published table: no FIXSessions, read-only ConfigMaps in one namespace
    assert sorted(r for rule in gw["rules"] for r in rule["resources"]) == ["endpointslices", "services"]
    (table,) = find(objs, "Role", "gateway")
    assert table["metadata"]["namespace"] == "fixgw"
    assert table["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    (lease,) = find(objs, "Role", "operator")
    assert lease["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                               "verbs": ["get", "create", "update"]},
                              {"apiGroups": [""], "resources": ["configmaps"],
                               "verbs": ["get", "list", "watch", "create", "update", "delete"]}]
    assert not find(objs, "ClusterRole", "reject-engine") and not find(objs, "Role", "reject-engine")
    # without the operator nobody publishes: the gateway validates FIXSessions itself (routes: direct)
    _, objs = render(helm_env, "--set", "operator.enabled=false")
    gw = next(o for o in find(objs, "ClusterRole", "gateway"))
    assert sorted(r for rule in gw["rules"] for r in rule["resources"]) == ["endpointslices", "fixsessions", "services"]
    assert not find(objs, "Role")
    (cm,) = find(objs, "ConfigMap", "gateway")
    assert yaml.safe_load(cm["data"]["fixgw.yaml"])["kubernetes"] == {
        "inCluster": True, "routes": "direct", "gatewayService": "fixgw/fgw-fix-gateway-gateway-admin"}


def test_prometheus_rule_is_the_rule_file(helm_env):
    """prometheusRule.enabled renders a PrometheusRule whose rules are deploy/prometheus/fixgw-alerts.yaml
    (the file tests/otel/test_alerts.py tests with promtool), exactly; off by default."""
    _, objs = render(helm_env)
    assert not [o for o in objs if o["kind"] == "PrometheusRule"]
    _, objs = render(helm_env, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=kps",
                     "--set", "prometheusRule.namespace=monitoring")
    (rule,) = find(objs, "PrometheusRule", "alerts")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "monitoring" and rule["metadata"]["labels"]["release"] == "kps"
    rules_file = ROOT / "deploy" / "prometheus" / "fixgw-alerts.yaml"
    assert rule["spec"] == yaml.safe_load(rules_file.read_text())
    assert [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


@pytest.mark.parametrize("values,message", [
    (["--set", "gateway.mode=statefulset"], "/gateway/mode"),
    (["--set", "gateway.replicas=three"], "/gateway/replicas"),
    (["--set-string", "gateway.maxHeldConnectionsPerPod=500"], "/gateway/maxHeldConnectionsPerPod"),
    (["--set", "gateway.holdTimeout=30"], "/gateway/holdTimeout"),
    (["--set", "gateway.antiAffinity.type=sometimes"], "/gateway/antiAffinity/type"),
    (["--set", "gateway.bogus=1"], "bogus"),
    (["--set-json", 'gateway.listeners=[{"name":"a","port":1,"tls":{"enabled":true,"secretName":"s","minVersion":"1.1"}}]'],
     "/gateway/listeners/0/tls/minVersion"),
    (["--set-json", 'gateway.listeners=[{"name":"a","port":1,"tls":{"enabled":true}}]'],
     "/gateway/listeners/0/tls"),
    (["--set-json", 'gateway.listeners=[{"name":"admin","port":1,"tls":{"enabled":false}}]'],
     "/gateway/listeners/0/name"),
    (["--set-json", 'gateway.listeners=[{"name":"a","port":"9877","tls":{"enabled":false}}]'],
     "/gateway/listeners/0/port"),
    (["--set", "defaultRejectEngine.enabled=maybe"], "/defaultRejectEngine/enabled"),
    (["--set", "otel.protocol=thrift"], "/otel/protocol"),
    (["--set", "otel.traceRatio=2"], "/otel/traceRatio"),
    (["--set", "certManager.enabled=true", "--set", "certManager.dnsNames={a.example}"], "/certManager/issuerRef/name"),
    (["--set", "certManager.issuerRef.kind=Vault"], "/certManager/issuerRef/kind"),
    (["--set", "certManager.duration=90d"], "/certManager/duration"),
    (["--set", "prometheusRule.enabled=yes"], "/prometheusRule/enabled"),
    (["--set", "operator.webhook.failurePolicy=Sometimes"], "/operator/webhook/failurePolicy"),
    (["--set", "operator.webhook.port=443"], "/operator/webhook/port"),
    (["--set", "operator.webhook.caBundle=not base64!"], "/operator/webhook/caBundle"),
    (["--set", "operator.webhook.timeoutSeconds=60"], "/operator/webhook/timeoutSeconds"),
    (["--set-json", 'prometheusRule.labels={"release":1}'], "/prometheusRule/labels/release"),
    (["--set", "podMonitor.enabled=yes"], "/podMonitor/enabled"),
    (["--set", "podMonitor.interval=30"], "/podMonitor/interval"),
    (["--set", "podMonitor.bogus=1"], "bogus"),
    (["--set", "defaultRejectEngine.adminPort=0"], "/defaultRejectEngine/adminPort"),
    (["--set-string", "operator.adminPort=9092"], "/operator/adminPort"),
])
def test_schema_refuses_bad_values(helm_env, values, message):
    r = helm(helm_env, "template", "x", CHART, *values, check=False)
    assert r.returncode != 0, r.stdout[:500]
    assert "schema" in r.stderr and message in r.stderr, r.stderr


def test_reject_engine_and_operator_probes_on_their_admin_ports(helm_env):
    """The reject engine and the operator serve /healthz and /readyz on an admin port of their own (--admin),
    a container port named admin that their liveness and readiness probes use; the ports are values, and an
    admin port equal to the FIX or webhook port is refused at render time."""
    _, objs = render(helm_env)
    for component, port, args_before in (("reject-engine", 9091, ["--listen", ":9881"]),
                                         ("operator", 9092, ["--id", "$(POD_NAME)"])):
        (dep,) = find(objs, "Deployment", component)
        c = chartrun.container(dep)
        i = c["args"].index("--admin")
        assert c["args"][i + 1] == f":{port}"
        assert c["args"][i - 2:i] == args_before
        assert {"name": "admin", "containerPort": port, "protocol": "TCP"} in c["ports"]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
        assert c["livenessProbe"]["failureThreshold"] * c["livenessProbe"]["periodSeconds"] >= 30
    _, objs = render(helm_env, "--set", "defaultRejectEngine.adminPort=8081", "--set", "operator.adminPort=8082")
    for component, port in (("reject-engine", 8081), ("operator", 8082)):
        c = chartrun.container(find(objs, "Deployment", component)[0])
        assert c["args"][c["args"].index("--admin") + 1] == f":{port}"
        assert [p["containerPort"] for p in c["ports"] if p["name"] == "admin"] == [port]
    for values, message in ((["--set", "defaultRejectEngine.adminPort=9881"], "defaultRejectEngine.adminPort"),
                            (["--set", "operator.adminPort=9443", "--set", "operator.webhook.enabled=true",
                              "--set", "operator.webhook.secretName=s", "--set", "operator.webhook.caBundle=" + WEBHOOK_CA],
                             "operator.adminPort")):
        r = helm(helm_env, "template", "x", CHART, *values, check=False)
        assert r.returncode != 0 and message in r.stderr, r.stderr


def test_admin_ports_open_to_admin_from_only(helm_env):
    """networkPolicy.adminFrom (monitoring) may reach the admin ports of the reject engine and the operator, as
    the gateway's; without it, nothing new is let in."""
    _, objs = render(helm_env)
    (rnp,) = find(objs, "NetworkPolicy", "reject-engine")
    assert [r["ports"] for r in rnp["spec"]["ingress"]] == [[{"protocol": "TCP", "port": 9881}]]
    assert find(objs, "NetworkPolicy", "operator")[0]["spec"]["ingress"] == []
    prom = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    _, objs = render(helm_env, "--set-json", f"networkPolicy.adminFrom=[{json.dumps(prom)}]")
    (rnp,) = find(objs, "NetworkPolicy", "reject-engine")
    assert {"from": [prom], "ports": [{"protocol": "TCP", "port": 9091}]} in rnp["spec"]["ingress"]
    (onp,) = find(objs, "NetworkPolicy", "operator")
    assert onp["spec"]["ingress"] == [{"from": [prom], "ports": [{"protocol": "TCP", "port": 9092}]}]
    (gnp,) = find(objs, "NetworkPolicy", "gateway")
    assert any(prom in r.get("from", []) and r["ports"] == [{"protocol": "TCP", "port": 9090}]
               for r in gnp["spec"]["ingress"])


@pytest.mark.parametrize("mode", ["deployment", "daemonset"])
def test_pod_monitor_scrapes_every_component(helm_env, mode):
    """podMonitor.enabled renders one Prometheus Operator PodMonitor (off by default) whose selector picks the
    pods of the gateways, the reject engine and the operator, each with a container port named admin where
    /metrics is served; labels and namespace from the values."""
    _, objs = render(helm_env, "--set", f"gateway.mode={mode}")
    assert not [o for o in objs if o["kind"] == "PodMonitor"]
    _, objs = render(helm_env, "--set", f"gateway.mode={mode}", "--set", "podMonitor.enabled=true",
                     "--set", "podMonitor.labels.release=kps", "--set", "podMonitor.namespace=monitoring",
                     "--set", "podMonitor.interval=15s")
    (pm,) = find(objs, "PodMonitor", "metrics")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["metadata"]["namespace"] == "monitoring" and pm["metadata"]["labels"]["release"] == "kps"
    assert pm["spec"]["namespaceSelector"] == {"matchNames": ["fixgw"]}
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep == {"port": "admin", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    sel = pm["spec"]["selector"]

    def selected(labels):
        return all(labels.get(k) == v for k, v in sel["matchLabels"].items()) and all(
            labels.get(e["key"]) in e["values"] for e in sel["matchExpressions"])
    workloads = [o for o in objs if o["kind"] in ("Deployment", "DaemonSet")]
    assert {o["metadata"]["labels"]["app.kubernetes.io/component"] for o in workloads} == \
        {"gateway", "reject-engine", "operator"}
    for o in workloads:
        assert selected(o["spec"]["template"]["metadata"]["labels"]), o["metadata"]["name"]
        assert "admin" in [p["name"] for p in chartrun.container(o)["ports"]], o["metadata"]["name"]


# a caBundle for renders: base64 of a PEM block (the API server keeps it as bytes; nothing here calls the webhook)
WEBHOOK_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def test_operator_webhook_on_and_off(helm_env):
    """operator.webhook: off by default (no webhook objects, no flags, nothing in to the operator); on, every
    replica serves it from the mounted Secret, a Service in front of them all, and a ValidatingWebhookConfiguration
    for FIXSession create/update with ADR-013's failurePolicy; the certificate from a named Secret and a
    caBundle, or from cert-manager with the CA injected; without either, the render fails and says why."""
    _, objs = render(helm_env)
    assert not find(objs, "ValidatingWebhookConfiguration") and len(find(objs, "Service", "operator")) == 0
    (op,) = find(objs, "Deployment", "operator")
    c = op["spec"]["template"]["spec"]["containers"][0]
    assert not [a for a in c["args"] if a.startswith("--webhook")] and "volumes" not in op["spec"]["template"]["spec"]
    assert find(objs, "NetworkPolicy", "operator")[0]["spec"]["ingress"] == []

    _, objs = render(helm_env, "--set", "operator.webhook.enabled=true", "--set", "operator.webhook.secretName=wh-tls",
                     "--set", "operator.webhook.caBundle=" + WEBHOOK_CA)
    (op,) = find(objs, "Deployment", "operator")
    pod = op["spec"]["template"]["spec"]
    c = pod["containers"][0]
    args = c["args"]
    assert args[args.index("--webhook-port") + 1] == "9443"
    cert, key = args[args.index("--webhook-cert") + 1], args[args.index("--webhook-key") + 1]
    (mount,) = c["volumeMounts"]
    assert cert == mount["mountPath"] + "/tls.crt" and key == mount["mountPath"] + "/tls.key" and mount["readOnly"]
    assert {"name": mount["name"], "secret": {"secretName": "wh-tls"}} in pod["volumes"]
    assert c["ports"] == [{"name": "admin", "containerPort": 9092, "protocol": "TCP"},
                          {"name": "webhook", "containerPort": 9443, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    (svc,) = find(objs, "Service", "operator")
    assert svc["spec"]["selector"] == op["spec"]["selector"]["matchLabels"]  # every replica, not the leader only
    assert svc["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    (vwc,) = find(objs, "ValidatingWebhookConfiguration", "operator")
    (hook,) = vwc["webhooks"]
    assert hook["failurePolicy"] == "Ignore" and hook["sideEffects"] == "None" and hook["timeoutSeconds"] == 5
    assert hook["clientConfig"] == {"service": {"name": svc["metadata"]["name"], "namespace": "fixgw",
                                                "path": "/validate-fixsessions", "port": 443}, "caBundle": WEBHOOK_CA}
    assert hook["rules"] == [{"apiGroups": ["fixgw.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"],
                              "resources": ["fixsessions"], "scope": "Namespaced"}]
    assert "namespaceSelector" not in hook and not find(objs, "Certificate")
    (np,) = find(objs, "NetworkPolicy", "operator")
    assert np["spec"]["ingress"] == [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                      "ports": [{"protocol": "TCP", "port": 9443}]}]

    _, objs = render(helm_env, "--set", "operator.webhook.enabled=true", *CERT_MANAGER)
    (vwc,) = find(objs, "ValidatingWebhookConfiguration", "operator")
    (svc,) = find(objs, "Service", "operator")
    name = svc["metadata"]["name"]
    (cert,) = [c for c in find(objs, "Certificate") if c["metadata"]["name"] == name]
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"fixgw/{name}"
    assert "caBundle" not in vwc["webhooks"][0]["clientConfig"]
    assert cert["spec"]["dnsNames"][0] == f"{name}.fixgw.svc" and "server auth" in cert["spec"]["usages"]
    pod = find(objs, "Deployment", "operator")[0]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["secret"]["secretName"] == cert["spec"]["secretName"] == f"{name}-tls"

    for values, message in ((["--set", "operator.webhook.secretName=wh-tls"], "operator.webhook.caBundle"),
                            (["--set", "operator.webhook.caBundle=" + WEBHOOK_CA], "operator.webhook.secretName")):
        r = helm(helm_env, "template", "x", CHART, "--set", "operator.webhook.enabled=true", *values, check=False)
        assert r.returncode != 0 and message in r.stderr, r.stderr


VARIANTS = {
    "deployment": [],
    "daemonset": ["--set", "gateway.mode=daemonset"],
    "tls-only-required": TLS_ONLY + ["--set", "gateway.antiAffinity.type=required"],
    "no-reject-no-operator": ["--set", "defaultRejectEngine.enabled=false", "--set", "operator.enabled=false",
                              "--set", "gateway.autoscaling.enabled=false", "--set", "networkPolicy.clientCIDRs={10.0.0.0/8}"],
    "no-networkpolicy": ["--set", "networkPolicy.enabled=false", "--set", "gateway.service.type=ClusterIP"],
    "otel-off": ["--set", "otel.enabled=false"],
    "webhook": ["--set", "operator.webhook.enabled=true", "--set", "operator.webhook.secretName=op-webhook-tls",
                "--set", "operator.webhook.caBundle=" + WEBHOOK_CA, "--set", "operator.webhook.failurePolicy=Fail",
                "--set", "operator.webhook.namespaceSelector.matchLabels.fixgw\\.io/sessions=yes"],
    "otel-http-tls": ["--set", "otel.protocol=http", "--set", "otel.collectorEndpoint=collector.obs:4318",
                      "--set", "otel.tlsSecretName=otel-ca", "--set", "otel.collectorConfig.clusterName=prod-1"],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_objects_accepted_by_apiserver(helm_env, k8s, k8s_ns, variant):
    text, objs = render(helm_env, *VARIANTS[variant], ns=k8s_ns, release=f"r{k8s_ns[-6:]}")
    assert objs
    r = k8s.kubectl("apply", "--dry-run=server", "-n", k8s_ns, "-f", "-", input=text)
    assert r.stdout.count("(server dry run)") == len(objs), r.stdout


# ---------------------------------------------------------------- chart and binary cannot drift

def test_chart_processes_route_and_reject(helm_env, k8s, k8s_ns, netns, tmp_path):
    """Apply the rendered chart, then run the gateway and the reject engine with the args, env and config
    file the chart gives them (chartrun.py: only listen addresses and mounted paths are moved). The gateway
    authenticates with a token of the chart's own ServiceAccount, so the chart's RBAC is what it runs with. A
    Logon for a FIXSession reaches its engine; an unknown CompID is answered by the reject engine through the
    chart's default-route FIXSession."""
    release = f"d{k8s_ns[-6:]}"
    text, objs = render(helm_env, "--set", f"gateway.watchNamespace={k8s_ns}",
                        "--set", "defaultRejectEngine.rejectReason=Unknown CompID", ns=k8s_ns, release=release)
    k8s.kubectl("apply", "-n", k8s_ns, "-f", "-", input=text)

    net = netns(2)
    eng_addr, rej_addr = net.addrs
    # the engine: a Service with a selector and a Pod at the namespace's address (kube-controller-manager
    # publishes its EndpointSlice); the reject engine: a Pod with the chart's reject-engine labels
    net.engine(addr=eng_addr)
    k8s.service(k8s_ns, "equities", selector={"app": "equities"})
    k8s.pod(k8s_ns, "equities-0", eng_addr, {"app": "equities"}, ports=(("fix", 9880),))
    (rdep,) = find(objs, "Deployment", "reject-engine")
    rej, rlog = chartrun.start_reject_engine(k8s, k8s_ns, net, rej_addr, rdep)
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", {
        "apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": "broker-a"},
        "spec": {"matchFields": {"SenderCompID49": {"value": "BROKER_A"}},
                 "target": {"service": {"name": "equities", "port": {"number": 9880}}}}})

    # the operator and the gateway as the chart runs them: the operator validates and publishes the routing
    # table, the gateway follows it (routes: published) with read-only rights on its ConfigMaps
    (odep,) = find(objs, "Deployment", "operator")
    op = chartrun.ChartOperator(k8s, k8s_ns, odep, tmp_path / "operator")
    (dep,) = find(objs, "Deployment", "gateway")
    (cm,) = find(objs, "ConfigMap", "gateway")
    assert yaml.safe_load(cm["data"]["fixgw.yaml"])["kubernetes"]["routes"] == "published"
    try:
        op.log.wait("routing_table_published", 60)
        gw = chartrun.ChartGateway(k8s, k8s_ns, dep, cm, tmp_path)
    except BaseException:
        op.stop()
        raise
    glog = gw.log
    try:
        glog.wait("started", 60)

        def exchange(port, sender):
            msg = logon(sender=sender)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(msg)
                try:
                    return msg, recv_exactly(s, 4096 if sender != "BROKER_A" else len(msg), 3)
                except OSError:
                    return msg, b""

        plain = gw.ports["fix-plain"]
        # kube-controller-manager writes both slices; after an API server restart (earlier tests) its
        # informers may still be backing off, so allow it time before asking anything of the gateway
        for svc, addr in (("equities", eng_addr), (rdep["metadata"]["name"], rej_addr)):
            wait_until(lambda: k8s.ready_addresses(k8s_ns, svc) == [addr], 120, 0.2,
                       f"kube-controller-manager to publish {svc}'s Pod in its EndpointSlice")
        wait_until(lambda: exchange(plain, "BROKER_A")[1] == logon(sender="BROKER_A"), 30, 0.1,
                   "a Logon from BROKER_A to reach the engine through the chart's gateway")
        line = glog.select("routing_decision", decision="ROUTE")[-1]
        assert line["fixsession"] == f"{k8s_ns}/broker-a"
        # unknown CompID: the chart's default route sends it to the chart's reject engine -> Logout 58=reason
        wait_until(lambda: b"35=5\x01" in exchange(plain, "NOBODY")[1], 30, 0.1,
                   "a Logout from the reject engine for an unknown CompID")
        _, answer = exchange(plain, "NOBODY")
        assert b"58=Unknown CompID\x01" in answer, answer
        assert any(x.get("fixsession") == f"{k8s_ns}/{rdep['metadata']['name']}"
                   for x in glog.select("routing_decision"))
        # the rendered probes of the reject engine (at its pod address) and the operator, as the kubelet runs
        # them: a wrong port or path fails here
        rcon = chartrun.container(rdep)
        assert chartrun.probe(rcon, "livenessProbe", rej_addr) == (200, b"ok\n")
        assert chartrun.probe(rcon, "readinessProbe", rej_addr) == (200, b"ready\n")
        oc = chartrun.container(odep)
        assert chartrun.probe(oc, "livenessProbe", "127.0.0.1", op.admin_ports) == (200, b"ok\n")
        assert chartrun.probe(oc, "readinessProbe", "127.0.0.1", op.admin_ports) == (200, b"ready\n")
    finally:
        rc = gw.stop()
        orc = op.stop()
    assert rc == 0, glog.text()[-3000:]
    assert orc == 0, op.log.text()[-3000:]
    assert not op.log.select("publish_failed"), op.log.text()[-3000:]
    assert rej.poll() is None, rlog.text()[-3000:]


def test_chart_env_exports_reject_engine_and_operator_telemetry(helm_env, k8s, k8s_ns, netns, tmp_path):
    """The OTEL_* environment the chart gives the reject engine and the operator (the gateway's telemetry is
    its config file's section, see test_telemetry_on_and_off and tests/otel) makes the real binaries export to
    a real collector: the reject engine's connection span and the operator's log records arrive, with the
    pod's resource attributes (downward API) and the chart's k8s.cluster.name."""
    net = netns(1)
    (tmp_path / "collector").mkdir()
    col = otel.Collector(str(k8sharness.tool("otelcol")), tmp_path / "collector", host=net.host_addr).start()
    try:
        text, objs = render(helm_env, "--set", f"gateway.watchNamespace={k8s_ns}",
                            "--set", f"otel.collectorEndpoint={net.host_addr}:{col.grpc_port}",
                            "--set", "otel.insecure=true", "--set", "otel.collectorConfig.clusterName=ci-1",
                            ns=k8s_ns, release=f"o{k8s_ns[-6:]}")
        k8s.kubectl("apply", "-n", k8s_ns, "-f", "-", input=text)
        (rdep,) = find(objs, "Deployment", "reject-engine")
        rej, rlog = chartrun.start_reject_engine(k8s, k8s_ns, net, net.addr, rdep)
        port = chartrun.container(rdep)["ports"][0]["containerPort"]

        def logout():
            try:
                with socket.create_connection((net.addr, port), timeout=5) as sock:
                    sock.sendall(logon(sender="NOBODY"))
                    return b"35=5\x01" in recv_exactly(sock, 4096, 3)
            except OSError:
                return False
        wait_until(logout, 30, 0.1, "a Logout from the chart's reject engine")

        def resource_of(items, service):
            for res, *_ in items:
                a = otel.attrs(res)
                if a.get("service.name") == service:
                    return a
            return None
        res = wait_until(lambda: resource_of(col.spans(), "fixgw-reject-engine"), 60, 0.2,
                         "the reject engine's span in the collector")
        assert res["k8s.pod.name"] == "reject-0" and res["k8s.namespace.name"] == k8s_ns, res
        assert res["k8s.node.name"] == k8sharness.NODE and res["k8s.cluster.name"] == "ci-1", res

        (odep,) = find(objs, "Deployment", "operator")
        op = chartrun.ChartOperator(k8s, k8s_ns, odep, tmp_path / "operator")
        try:
            res = wait_until(lambda: resource_of(col.logs(), "fixgw-operator"), 60, 0.2,
                             "the operator's log records in the collector")
            assert res["k8s.pod.name"] == "operator-0" and res["k8s.cluster.name"] == "ci-1", res
        finally:
            assert op.stop() == 0, op.log.text()[-3000:]
        assert rej.poll() is None, rlog.text()[-3000:]
    finally:
        col.stop()


def test_notes_first_logon_is_a_valid_logon(helm_env, k8s, k8s_ns):
    """NOTES.txt (printed by helm install, here a server-side dry run against the real API server): the Logon
    command it gives produces a Logon fixgw parses, and it says where the routing decision is read."""
    from conftest import FIXGW
    r = helm(helm_env, "install", f"n{k8s_ns[-6:]}", CHART, "-n", k8s_ns, "--dry-run=server",
             "--kubeconfig", k8s.kubeconfig)
    notes = r.stdout.split("NOTES:", 1)[1]
    assert "routing_decision" in notes and "/routes" in notes
    cmd = notes[notes.index("python3 -c"):notes.index("| nc")].rstrip().rstrip("\\")  # as a shell reads it
    msg = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=30, check=True).stdout
    parsed = subprocess.run([str(FIXGW), "logon", "parse", "--json"], input=msg, capture_output=True, timeout=30)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    assert json.loads(parsed.stdout)["status"] in ("complete", "ok", "valid", "COMPLETE"), parsed.stdout


# ---------------------------------------------------------------- cert-manager for the listeners' Secrets

CERT_MANAGER = ["--set", "certManager.enabled=true", "--set", "certManager.issuerRef.name=fix-ca",
                "--set", "certManager.dnsNames={fix.example.com}"]

# cert-manager is not installed in the harness. This is a CRD for its Certificate (cert-manager.io/v1) with the
# spec fields the chart renders, typed as cert-manager's API reference documents them, written for this test:
# the API server's strict field validation (kubectl's default) then refuses a field the chart misspells or
# mistypes. It is not cert-manager's own CRD, whose full schema and defaults are not checked here.
CERTIFICATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io"},
    "spec": {"group": "cert-manager.io", "scope": "Namespaced",
             "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate",
                       "listKind": "CertificateList"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {
                     "type": "object", "required": ["secretName", "issuerRef"], "properties": {
                         "secretName": {"type": "string"},
                         "issuerRef": {"type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string"}, "kind": {"type": "string"}, "group": {"type": "string"}}},
                         "dnsNames": {"type": "array", "items": {"type": "string"}},
                         "duration": {"type": "string"}, "renewBefore": {"type": "string"},
                         "privateKey": {"type": "object", "properties": {
                             "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"]},
                             "size": {"type": "integer"},
                             "rotationPolicy": {"type": "string", "enum": ["Never", "Always"]}}},
                         "usages": {"type": "array", "items": {"type": "string"}}}}}}}}]}}


def test_cert_manager_certificates_write_the_listeners_secrets(helm_env):
    """certManager.enabled: one Certificate per TLS listener Secret, writing the very Secret the gateway pods
    mount; listeners sharing a Secret share one Certificate; off by default."""
    _, objs = render(helm_env)
    assert not find(objs, "Certificate")
    listeners = ["--set-json", 'gateway.listeners=[{"name":"a","port":1,"tls":{"enabled":true,"secretName":"s1"}},'
                 '{"name":"b","port":2,"tls":{"enabled":true,"secretName":"s2"}},'
                 '{"name":"c","port":3,"tls":{"enabled":true,"secretName":"s1"}},{"name":"d","port":4,"tls":{"enabled":false}}]']
    _, objs = render(helm_env, *CERT_MANAGER, *listeners)
    certs = find(objs, "Certificate")
    assert sorted(c["spec"]["secretName"] for c in certs) == ["s1", "s2"]
    pod = find(objs, "Deployment", "gateway")[0]["spec"]["template"]["spec"]
    mounted = {v["secret"]["secretName"] for v in pod["volumes"] if v["name"].startswith("tls-")}
    assert mounted == {"s1", "s2"}
    spec = certs[0]["spec"]
    assert spec["issuerRef"] == {"name": "fix-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert spec["dnsNames"] == ["fix.example.com"] and "server auth" in spec["usages"]
    assert spec["privateKey"]["algorithm"] == "ECDSA"
    assert certs[0]["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"


def test_cert_manager_listener_certificates_need_dns_names(helm_env):
    """A TLS listener's Certificate needs the names clients connect to; without a TLS listener (cert-manager
    for the webhook alone) none are asked for."""
    r = helm(helm_env, "template", "x", CHART, "--set", "certManager.enabled=true",
             "--set", "certManager.issuerRef.name=x", check=False)
    assert r.returncode != 0 and "certManager.dnsNames" in r.stderr and "fix-tls" in r.stderr, r.stderr
    plain = ["--set-json", 'gateway.listeners=[{"name":"p","port":1,"tls":{"enabled":false}}]']
    _, objs = render(helm_env, "--set", "certManager.enabled=true", "--set", "certManager.issuerRef.name=x", *plain)
    assert not find(objs, "Certificate", "gateway")


def test_cert_manager_render_accepted_by_apiserver(helm_env, k8s, k8s_ns):
    """The render with certManager on (and the webhook, whose serving certificate it then issues too), applied
    with --dry-run=server, the Certificates against the test's own Certificate CRD (CERTIFICATE_CRD above:
    cert-manager itself is not installed here)."""
    if not k8s.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io",
                   missing_ok=True):
        try:
            k8s.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CERTIFICATE_CRD)
        except k8sharness.ApiError as e:
            if e.status != 409:  # another test of this session made it first
                raise
    wait_until(lambda: k8s.get("/apis/cert-manager.io/v1", missing_ok=True), 30, 0.2, "the Certificate CRD served")
    text, objs = render(helm_env, *CERT_MANAGER, "--set", "operator.webhook.enabled=true", ns=k8s_ns,
                        release=f"c{k8s_ns[-6:]}")
    assert len(find(objs, "Certificate")) == 2  # the listeners' and the webhook's
    assert find(objs, "ValidatingWebhookConfiguration")
    r = k8s.kubectl("apply", "--dry-run=server", "-n", k8s_ns, "-f", "-", input=text)
    assert r.stdout.count("(server dry run)") == len(objs), r.stdout
    assert "certificate.cert-manager.io/" in r.stdout
    # strict field validation is on: a field the CRD does not know is refused, so the check above means something
    bad = text.replace("  renewBefore:", "  renewBeforeTypo:", 1)
    r = k8s.kubectl("apply", "--dry-run=server", "-n", k8s_ns, "-f", "-", input=bad, check=False)
    assert r.returncode != 0 and "renewBeforeTypo" in r.stderr, r.stdout + r.stderr
