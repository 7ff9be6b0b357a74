"""The chart's operator Deployment run as the chart configures it, against the real kube-apiserver: the
rendered container's args (with $(POD_NAME) expanded as the kubelet does), env and mounted files, the chart's
ServiceAccount and RBAC, the in-cluster configuration (no kubeconfig), as the chart's non-root user
(chartrun.ChartOperator). It must take the Lease under its pod name and set Accepted on a FIXSession, so a flag
the chart passes and the binary no longer knows (or the reverse) fails here. The gateway's Deployment is run the
same way by test_helm.py::test_chart_processes_route_and_reject."""
import os
import re

import chartrun
from k8sharness import wait_until
from test_helm import find, helm_env, render  # noqa: F401  (helm_env: the fixture)

GROUP = "/apis/fixgw.io/v1alpha1"


def wait_rbac(k8s, ns, sa, lease_ns):
    user = f"system:serviceaccount:{ns}:{sa}"
    checks = [dict(group="fixgw.io", resource="fixsessions", verb="list"),
              dict(group="fixgw.io", resource="fixsessions", subresource="status", verb="update", namespace=ns),
              dict(group="coordination.k8s.io", resource="leases", verb="update", namespace=lease_ns)]

    def allowed():
        return all(k8s.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                              "system:authenticated"], "resourceAttributes": a}}
        ).get("status", {}).get("allowed") for a in checks)
    wait_until(allowed, 60, what=f"the chart's RBAC effective for {user}")


def test_chart_operator_leads_and_accepts(helm_env, k8s, k8s_ns, tmp_path):  # noqa: F811
    release = f"o{k8s_ns[-6:]}"
    text, objs = render(helm_env, ns=k8s_ns, release=release)
    k8s.kubectl("apply", "-n", k8s_ns, "-f", "-", input=text)
    (dep,) = find(objs, "Deployment", "operator")
    sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
    wait_rbac(k8s, k8s_ns, sa, k8s_ns)  # the chart's lease Role is in the release namespace
    k8s.service(k8s_ns, "engine")
    sender = f"CHART_OP_{os.urandom(3).hex().upper()}"  # unique: every namespace is validated as one set
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", {
        "apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": "chart-op"},
        "spec": {"matchFields": {"SenderCompID49": {"value": sender}},
                 "target": {"service": {"name": "engine", "port": {"number": 9880}}}}})
    pod_name = f"{release}-operator-0"
    op = chartrun.ChartOperator(k8s, k8s_ns, dep, tmp_path / "operator", pod_name=pod_name)
    try:
        assert "$(" not in " ".join(op.args), op.args
        wait_until(lambda: op.log.select("leader_started") or op.proc.poll() is not None, 60, 0.1,
                   "the chart's operator to take the Lease (or to exit)")
        assert op.proc.poll() is None, f"the operator exited {op.proc.returncode}:\n{op.log.text()[-3000:]}"
        started = op.log.select("leader_started")[0]
        lease_ns, lease_name = re.search(r"the Lease ([^/ ]+)/([^: ]+)", started["msg"]).groups()
        lease = k8s.get(f"/apis/coordination.k8s.io/v1/namespaces/{lease_ns}/leases/{lease_name}")
        assert lease["spec"]["holderIdentity"] == pod_name  # --id $(POD_NAME), expanded

        def accepted():
            obj = k8s.get(f"{GROUP}/namespaces/{k8s_ns}/fixsessions/chart-op")
            c = {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}.get("Accepted")
            return c if c and c["status"] == "True" and c["observedGeneration"] == obj["metadata"]["generation"] \
                else None
        wait_until(accepted, 60, 0.2, "the chart's operator to accept a FIXSession")
        # its rendered probes, as the kubelet runs them (a wrong port or path fails here)
        c = chartrun.container(dep)
        assert chartrun.probe(c, "livenessProbe", "127.0.0.1", op.admin_ports) == (200, b"ok\n")
        assert chartrun.probe(c, "readinessProbe", "127.0.0.1", op.admin_ports) == (200, b"ready\n")
        assert not op.log.select(level="ERROR"), op.log.select(level="ERROR")
    finally:
        rc = op.stop()
    assert rc == 0, op.log.text()[-3000:]
