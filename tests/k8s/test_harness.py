"""Self-tests of the Kubernetes harness: what later tests rely on works against the real control plane."""
import socket
import subprocess
import urllib.parse

import pytest

from k8sharness import K8S_VERSION, ApiError, netns_list, wait_until


def test_versions(k8s):
    assert k8s.request("GET", "/version")["gitVersion"] == K8S_VERSION
    assert f"Client Version: {K8S_VERSION}" in k8s.kubectl("version", "--client").stdout
    out = subprocess.run([str(k8s.tools / "etcd"), "--version"], capture_output=True, text=True).stdout
    assert "etcd Version: 3.7.3" in out, out


def test_netns_engine_reachable_from_host(netns):
    ns = netns()
    eng = ns.engine(9880)
    with socket.create_connection((ns.addr, 9880), timeout=10) as s:
        s.sendall(b"8=FIX.4.4\x01")
        assert s.recv(100) == b"8=FIX.4.4\x01"
    assert eng.data(0) == b"8=FIX.4.4\x01"
    # the address exists only inside the namespace and on its veth pair
    assert ns.addr not in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout


def test_netns_deleted_with_its_veth(netns):
    ns = netns(2)
    assert len(ns.addrs) == 2 and len(ns.name) <= 15 and len(ns.host_if) <= 15
    ns.engine(9880, addr=ns.addrs[1])
    with socket.create_connection((ns.addrs[1], 9880), timeout=10):
        pass
    ns.delete()
    assert ns.name not in netns_list()
    r = subprocess.run(["ip", "link", "show", ns.host_if], capture_output=True, text=True)
    assert r.returncode != 0


def test_two_namespaces_get_distinct_subnets(netns):
    a, b = netns(), netns()
    assert a.prefix != b.prefix
    ea, eb = a.engine(9880, prefix=b"A"), b.engine(9880, prefix=b"B")
    for ns, tag in ((a, b"A"), (b, b"B")):
        with socket.create_connection((ns.addr, 9880), timeout=10) as s:
            s.sendall(b"x")
            assert s.recv(10) == tag + b"x"


def test_selectorless_service_with_handmade_slice(k8s, k8s_ns, netns):
    ns = netns(2)
    k8s.service(k8s_ns, "engine", ports=[("fix", 9880, 9880)])
    k8s.endpoint_slice(k8s_ns, "engine", "engine-1", [ns.addrs[0], k8s.endpoint(ns.addrs[1], ready=False)])
    assert k8s.ready_addresses(k8s_ns, "engine") == [ns.addrs[0]]
    k8s.set_endpoints(k8s_ns, "engine-1", [ns.addrs[1]])
    assert k8s.ready_addresses(k8s_ns, "engine") == [ns.addrs[1]]
    with pytest.raises(ApiError) as e:
        k8s.endpoint_slice(k8s_ns, "engine", "engine-2", ["127.0.0.1"])
    assert e.value.status == 422 and "may not be in the loopback range" in e.value.body["message"]


def test_endpointslice_generated_from_pod(k8s, k8s_ns, netns):
    """kube-controller-manager publishes a Pod (bound to the test Node, status set by the test) in the
    EndpointSlice of the Service that selects it, and follows its Ready condition."""
    ns = netns()
    k8s.service(k8s_ns, "engine", ports=[("fix", 9880, "fix")], selector={"app": "engine"})
    k8s.pod(k8s_ns, "engine-0", ns.addr, {"app": "engine"}, ports=[("fix", 9880)])
    wait_until(lambda: k8s.ready_addresses(k8s_ns, "engine") == [ns.addr], 30, 0.1, "the Pod in the slice")
    sl = k8s.endpoint_slices(k8s_ns, "engine")[0]
    assert sl["ports"] == [{"name": "fix", "port": 9880, "protocol": "TCP"}]
    assert sl["endpoints"][0]["targetRef"]["name"] == "engine-0"
    k8s.set_pod_ready(k8s_ns, "engine-0", False)
    wait_until(lambda: k8s.ready_addresses(k8s_ns, "engine") == [], 30, 0.1, "the Pod not ready")
    k8s.set_pod_ready(k8s_ns, "engine-0", True)
    wait_until(lambda: k8s.ready_addresses(k8s_ns, "engine") == [ns.addr], 30, 0.1, "the Pod ready again")


def test_watch_streams_endpointslice_changes(k8s, k8s_ns, netns):
    ns = netns(2)
    k8s.service(k8s_ns, "engine")
    k8s.endpoint_slice(k8s_ns, "engine", "engine-1", [ns.addrs[0]])
    rv = k8s.get(f"/apis/discovery.k8s.io/v1/namespaces/{k8s_ns}/endpointslices")["metadata"]["resourceVersion"]
    sel = urllib.parse.quote("kubernetes.io/service-name=engine")
    events = k8s.watch(f"/apis/discovery.k8s.io/v1/namespaces/{k8s_ns}/endpointslices?watch=1"
                       f"&resourceVersion={rv}&labelSelector={sel}", timeout=30)
    k8s.set_endpoints(k8s_ns, "engine-1", [ns.addrs[0], ns.addrs[1]])
    ev = next(events)
    assert ev["type"] == "MODIFIED"
    assert [e["addresses"][0] for e in ev["object"]["endpoints"]] == ns.addrs
    events.close()


def test_apiserver_stop_and_restart_keeps_state(k8s, k8s_ns):
    """stop_apiserver / start_apiserver: same port, same etcd, the objects are still there."""
    k8s.service(k8s_ns, "kept")
    port = k8s.apiserver_port
    k8s.stop_apiserver()
    with pytest.raises(OSError):
        k8s.request("GET", "/readyz", timeout=2)
    k8s.start_apiserver()
    assert k8s.apiserver_port == port
    assert k8s.get(f"/api/v1/namespaces/{k8s_ns}/services/kept")["metadata"]["name"] == "kept"


def test_quickfix_acceptor_in_netns(netns):
    """A real QuickFIX acceptor listens on the namespace's address; a QuickFIX initiator on the host logs on."""
    from gwharness import run_initiator
    ns = netns()
    acc = ns.acceptor("venue", comp_id="VENUE")
    r = run_initiator(acc.port, "CLIENT", target="VENUE", messages=1, args=("--host", ns.addr))
    assert r.rc == 0, r.explain()
    acc.wait_event("logon")


def test_service_account_token_has_only_its_rbac(k8s, k8s_ns, tmp_path):
    """A ServiceAccount token (TokenRequest) gets what a Role grants and nothing more: how a test runs a
    component with the chart's RBAC instead of the admin token."""
    tok = k8s.service_account_token(k8s_ns, "reader")
    path = f"/apis/discovery.k8s.io/v1/namespaces/{k8s_ns}/endpointslices"
    with pytest.raises(ApiError) as e:
        k8s.request("GET", path, token=tok)
    assert e.value.status == 403
    k8s.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{k8s_ns}/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read"},
        "rules": [{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                   "verbs": ["get", "list", "watch"]}]})
    k8s.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{k8s_ns}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "read"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": k8s_ns}]})
    wait_until(lambda: k8s.request("GET", path, raw=True, token=tok)[0] == 200, 10, 0.1, "the Role to apply")
    with pytest.raises(ApiError) as e:
        k8s.request("DELETE", f"{path}/none", token=tok)
    assert e.value.status == 403
    env = k8s.in_cluster_files(tmp_path / "sa", tok, k8s_ns)
    assert (tmp_path / "sa" / "token").read_text() == tok
    assert env["KUBERNETES_SERVICE_PORT"] == str(k8s.apiserver_port)


def test_audit_log_records_writes(k8s, k8s_ns):
    tok = k8s.service_account_token(k8s_ns, "writer")
    k8s.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{k8s_ns}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": k8s_ns}]})
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    wait_until(lambda: k8s.request("POST", f"/api/v1/namespaces/{k8s_ns}/configmaps", body, raw=True,
                                   token=tok)[0] == 201, 10, 0.1, "the RoleBinding to apply")
    user = f"system:serviceaccount:{k8s_ns}:writer"
    evs = wait_until(lambda: k8s.audit_events(user=user, resource="configmaps", verb="create"), 10, 0.1,
                     "the audit event")
    assert evs[0]["objectRef"]["namespace"] == k8s_ns and evs[0]["responseStatus"]["code"] == 201


def test_expired_resource_versions_are_gone(k8s, k8s_ns):
    """expire_resource_versions(): etcd compacted and the API server's watch cache restarted, so a watch and
    an exact list from an older resourceVersion get 410 Gone (what a reflector must answer with a relist)."""
    k8s.service(k8s_ns, "a")
    rv = k8s.get(f"/api/v1/namespaces/{k8s_ns}/services")["metadata"]["resourceVersion"]
    k8s.service(k8s_ns, "b")
    k8s.expire_resource_versions()
    ev = next(k8s.watch(f"/api/v1/namespaces/{k8s_ns}/services?watch=1&resourceVersion={rv}", timeout=30))
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410, ev
    status, body = k8s.request("GET", f"/api/v1/namespaces/{k8s_ns}/services?resourceVersion={rv}"
                               "&resourceVersionMatch=Exact", raw=True)
    assert status == 410, body
