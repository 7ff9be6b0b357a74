"""docs/getting-started.md, part 2 (a cluster, with Helm), against the harness's real kube-apiserver, etcd and
kube-controller-manager: every ```sh block in order in one bash (tests/e2e/docrun.py), with the pinned kubectl
and helm on PATH and the harness's kubeconfig as ~/.kube/config (HOME is a directory of the test). `kubectl create namespace`, the TLS Secret,
`helm install`, the engine's Service, the FIXSession, `kubectl get fixsessions`, `curl .../routes`,
`helm uninstall` and `kubectl delete namespace` run as written, against the API server.

There is no kubelet (and no scheduler) here, so nothing the chart installs runs by itself. The blocks that
need one are replaced by steps of this test (their `instead=` names), which do what the kubelet would:
- rollout: the chart's operator, reject engine and gateway are started from the objects `helm install` created
  (read back from the API server): the operator with its Deployment's args and a token of its ServiceAccount
  (it publishes the routing table the gateway follows); the reject engine with its Deployment's args in a
  network namespace, with a Pod object of its labels at that address (kube-controller-manager publishes the
  EndpointSlice); the gateway with its Deployment's args and env and its ConfigMap's config file, the guide's
  TLS Secret as its mounted certificate, and a token of the chart's gateway ServiceAccount (chartrun.py, as
  tests/k8s/test_helm.py);
- engine: "your engine" is the tests' QuickFIX acceptor (CompID FIXGW) on port 9880 in a network namespace,
  with a Ready Pod object labelled app=equities-engine at its address;
- port_forward / admin_port_forward: the gateway listens on free loopback ports; the guide's 9877 and 9090
  are mapped to them in the blocks after (docrun's port mapping). The step first waits until the gateway's
  /routes lists fixgw/broker-a with a ready endpoint (a reader typing the next command is slower than that);
- gateway_logs: the gateway's own log lines (what `kubectl logs` would show) must hold the routing decisions
  the guide names;
- teardown (before the clean-up block, which then runs as written): the stand-in processes stop (the gateway
  with exit status 0) and their Pod objects are deleted at once, as a kubelet would confirm.
The image block is skipped: tests/image builds and checks the image; there is no registry here."""
import base64
import json
import os
import re
import urllib.request

import chartrun
import docrun
import k8sharness
from conftest import FIXGW, ROOT
from gwharness import peer_binary, wait_until

GUIDE = ROOT / "docs" / "getting-started.md"
NS = "fixgw"  # as the guide: the test's control plane is its own, nothing else uses this namespace


def test_getting_started_cluster(k8s, netns, tmp_path):
    peer_binary("fix_acceptor")
    home = tmp_path / "home"
    work = home / "fixgw-start"
    work.mkdir(parents=True)
    logs = tmp_path / "blocks"
    logs.mkdir()
    # kubectl, helm and fixgw find the harness's API server where they look by default: ~/.kube/config
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_bytes(k8s.kubeconfig.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(HOME=str(home), REPO=str(ROOT),
               PATH=f"{k8sharness.tool('helm').parent}:{FIXGW.parent}:{os.environ['PATH']}")
    net = netns(2)
    eng_addr, rej_addr = net.addrs
    run = {}

    def get(path):
        return k8s.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{path}")

    def rollout(block):
        op_name, gw_name, rej_name = re.findall(r"deployment/(\S+)", block.code)
        dep, rdep = get(gw_name), get(rej_name)
        # the operator publishes the routing table the chart's gateway follows
        run["operator"] = chartrun.ChartOperator(k8s, NS, get(op_name), tmp_path / "operator")
        run["operator"].log.wait("routing_table_published", 60)
        run["reject"] = chartrun.start_reject_engine(k8s, NS, net, rej_addr, rdep)
        cm_name = next(v["configMap"]["name"] for v in dep["spec"]["template"]["spec"]["volumes"]
                       if v["name"] == "config")
        cm = k8s.get(f"/api/v1/namespaces/{NS}/configmaps/{cm_name}")
        tls_dirs = {}
        for v in dep["spec"]["template"]["spec"]["volumes"]:  # the Secrets, as the kubelet mounts them
            if v["name"].startswith("tls-"):
                secret = k8s.get(f"/api/v1/namespaces/{NS}/secrets/{v['secret']['secretName']}")
                d = tmp_path / "secrets" / v["name"]
                d.mkdir(parents=True)
                for k, val in secret["data"].items():
                    (d / k).write_bytes(base64.b64decode(val))
                tls_dirs[v["name"][len("tls-"):]] = d
        gw_dir = tmp_path / "gateway"
        gw_dir.mkdir()
        run["gateway"] = chartrun.ChartGateway(k8s, NS, dep, cm, gw_dir, tls_dirs=tls_dirs)
        run["gateway"].log.wait("started", 60)

    def engine(block):
        assert "app=equities-engine" in block.code
        run["engine"] = net.acceptor("equities-engine", addr=eng_addr, comp_id="FIXGW", args=("--port", "9880"))
        k8s.pod(NS, "equities-engine-0", eng_addr, {"app": "equities-engine"}, ports=(("fix", 9880),))

    def routes():
        with urllib.request.urlopen(f"http://127.0.0.1:{run['gateway'].admin_port}/routes", timeout=10) as r:
            return {x["name"]: x for x in json.load(r)["routes"]}

    def port_forward(block):
        assert "9877:9877" in block.code
        wait_until(lambda: routes().get(f"{NS}/broker-a", {}).get("ready_endpoints", 0) >= 1
                   and all(x["ready_endpoints"] >= 1 for x in routes().values()), 60, 0.2,
                   "the gateway to route fixgw/broker-a and the default route to ready endpoints")
        return {9877: run["gateway"].ports["fix-plain"]}

    def gateway_logs(block):
        log = run["gateway"].log
        log.wait("routing_decision", 30, decision="ROUTE", fixsession=f"{NS}/broker-a")
        log.wait("routing_decision", 30, decision="DEFAULT_ROUTE", fixsession=f"{NS}/fixgw-fix-gateway-reject-engine")

    def admin_port_forward(block):
        assert "9090:9090" in block.code
        return {9090: run["gateway"].admin_port}

    def teardown(block):
        assert run.pop("gateway").stop() == 0
        assert run.pop("operator").stop() == 0
        for name in ("engine", "reject"):
            p = run.pop(name)
            proc = p.proc if name == "engine" else p[0]
            proc.terminate()
            proc.wait(30)
        for pod in ("equities-engine-0", "reject-0"):
            k8s.delete(f"/api/v1/namespaces/{NS}/pods/{pod}?gracePeriodSeconds=0")

    steps = {f.__name__: f for f in (rollout, engine, port_forward, gateway_logs, admin_port_forward, teardown)}
    shell = docrun.Shell(work, env, logs)
    try:
        done = docrun.run_part(GUIDE, "cluster", shell, steps=steps)
    finally:
        shell.stop()
        for name in ("gateway", "operator"):
            if name in run:
                run[name].stop()
        if k8s.get(f"/api/v1/namespaces/{NS}", missing_ok=True):  # a failed run: leave nothing behind
            k8s.delete_namespace(NS)
    assert any("helm install" in b.code for b, _ in done)
    assert not k8s.get(f"/api/v1/namespaces/{NS}", missing_ok=True) or \
        k8s.get(f"/api/v1/namespaces/{NS}")["status"]["phase"] == "Terminating"
