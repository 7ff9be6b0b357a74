"""The gateway in Kubernetes mode against the real kube-apiserver: FIXSessions applied through the API route
Logons to the EndpointSlice addresses of their Services (engines in network namespaces), with hold/release,
orphans, last-known-good on conflicts, and routing that survives the API server going away.

Every case asserts what a counterparty sees (its bytes reach the right engine, or they do not)."""
import json
import socket
import subprocess
import time
import urllib.request

import pytest

from fixmsg import logon
from gwharness import free_port, recv_exactly, wait_until
from k8sgateway import GROUP, K8sGateway, fixsession, selectorless_service, try_logon, wait_routed
from k8sharness import ApiError


@pytest.fixture
def gateway(tmp_path, k8s):
    made = []

    def make(**kw):
        g = K8sGateway(tmp_path, k8s, None, **kw)
        made.append(g)
        return g.start()

    yield make
    for g in made:
        g.stop()


def test_applied_fixsession_routes_to_endpointslice_addresses(k8s, k8s_ns, netns, gateway):
    net = netns(2)
    e1 = net.engine(addr=net.addrs[0])
    selectorless_service(k8s, k8s_ns, "equities", [net.addrs[0]])
    gw = gateway(namespace=k8s_ns)
    assert try_logon(gw, "BROKER_A", 2) == b""  # no FIXSession yet: no match, closed

    # apply-to-routable, measured from the API's answer to the first Logon the engine echoes
    t0 = time.monotonic()
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fixsession("broker-a", "BROKER_A", "equities"))
    wait_routed(gw, "BROKER_A")
    print(f"apply-to-routable: {1000 * (time.monotonic() - t0):.0f} ms")
    assert any(c["data"].startswith(logon(sender="BROKER_A")) for c in e1.conns)
    line = gw.logs("routing_decision", decision="ROUTE")[-1]
    assert line["fixsession"] == f"{k8s_ns}/broker-a"

    # a second ready endpoint added to the slice: new sessions spread over both
    e2 = net.engine(addr=net.addrs[1])
    k8s.set_endpoints(k8s_ns, "equities-1", [net.addrs[0], net.addrs[1]])
    wait_until(lambda: (try_logon(gw, "BROKER_A", 2), len(e2.conns))[1] > 0, 20, 0.05,
               "the second endpoint to get a session")


def test_every_apply_becomes_routable(k8s, k8s_ns, netns, gateway):
    """Twenty FIXSessions applied one after another each become routable (bench/k8s_apply.py measures how
    fast; this checks none is lost or routed late by a missed event)."""
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    gw = gateway(namespace=k8s_ns)
    for i in range(20):
        k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fixsession(f"seq-{i}", f"SEQ{i}", "svc"))
        wait_routed(gw, f"SEQ{i}")
    for i in range(20):
        assert try_logon(gw, f"SEQ{i}") == logon(sender=f"SEQ{i}")


def test_not_ready_holds_then_ready_releases_bytes_intact(k8s, k8s_ns, netns, gateway):
    net = netns(1)
    eng = net.engine()
    selectorless_service(k8s, k8s_ns, "fi", [net.addr], ready=False)
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions",
               fixsession("bank", "BANK_FI", "fi", holdTimeout="60s"))
    gw = gateway(namespace=k8s_ns)
    msg = logon(sender="BANK_FI")
    s = gw.connect()
    s.sendall(msg)
    gw.wait_log("hold_start")
    extra = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01"  # a byte stream the gateway must not touch
    s.sendall(extra)
    assert not eng.conns
    k8s.set_endpoints(k8s_ns, "fi-1", [k8s.endpoint(net.addr, ready=True)])
    gw.wait_log("hold_released")
    assert recv_exactly(s, len(msg) + len(extra)) == msg + extra
    wait_until(lambda: eng.conns and bytes(eng.conns[0]["data"]) == msg + extra, 10, what="engine got the bytes")
    s.close()


def test_terminating_endpoint_keeps_its_session_gets_no_new_ones(k8s, k8s_ns, netns, gateway):
    net = netns(2)
    old, new = net.engine(addr=net.addrs[0]), net.engine(addr=net.addrs[1])
    selectorless_service(k8s, k8s_ns, "svc", [net.addrs[0]])
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fixsession("a", "TERM_A", "svc"))
    gw = gateway(namespace=k8s_ns)
    msg = logon(sender="TERM_A")
    live = gw.connect()
    live.sendall(msg)
    assert recv_exactly(live, len(msg)) == msg
    k8s.set_endpoints(k8s_ns, "svc-1", [
        k8s.endpoint(net.addrs[0], ready=False, serving=True, terminating=True), net.addrs[1]])
    wait_until(lambda: try_logon(gw, "TERM_A", 2) == msg and len(new.conns) > 0, 20, 0.05,
               "new sessions on the ready endpoint")
    n_old = len(old.conns)
    for _ in range(5):
        assert try_logon(gw, "TERM_A") == msg
    assert len(old.conns) == n_old  # the terminating endpoint got nothing new
    live.sendall(b"still-here")  # and the session it has goes on
    assert recv_exactly(live, 10) == b"still-here"
    live.close()


def test_deleted_fixsession_orphans_then_reapplied_reassociates(k8s, k8s_ns, netns, gateway):
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("orph", "ORPHAN_A", "svc"))
    gw = gateway(namespace=k8s_ns)
    msg = logon(sender="ORPHAN_A")
    live = gw.connect()
    live.sendall(msg)
    assert recv_exactly(live, len(msg)) == msg
    k8s.delete(f"{path}/orph")
    line = gw.wait_log("orphan_sessions")[-1]
    assert line["level"] == "ERROR"
    assert try_logon(gw, "ORPHAN_A", 2) == b""  # new connections: no match any more
    live.sendall(b"ping")
    assert recv_exactly(live, 4) == b"ping"  # the orphan keeps flowing
    k8s.create(path, fixsession("orph", "ORPHAN_A", "svc"))
    gw.wait_log("orphans_reassociated")
    live.close()


def routing_conflicts(gw):
    """The fixgw_routing_conflicts gauge on the gateway's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("fixgw_routing_conflicts "):
                return float(line.split()[1])
    return None


def test_conflicting_fixsession_keeps_last_known_good(k8s, k8s_ns, netns, gateway):
    net = netns(2)
    ea, eb = net.engine(addr=net.addrs[0]), net.engine(addr=net.addrs[1])
    selectorless_service(k8s, k8s_ns, "svc-a", [net.addrs[0]])
    selectorless_service(k8s, k8s_ns, "svc-b", [net.addrs[1]])
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("a", "CONFLICT_A", "svc-a"))
    k8s.create(path, fixsession("b", "CONFLICT_B", "svc-b"))
    gw = gateway(namespace=k8s_ns)
    wait_routed(gw, "CONFLICT_A")
    # b now claims A's Logons too: refused, b keeps routing B's Logons, a keeps A's
    k8s.patch(f"{path}/b", {"spec": {"matchFields": {"SenderCompID49": {"value": "CONFLICT_A"}}}})
    line = gw.wait_log("route_conflict")[-1]
    assert line["level"] == "CRITICAL"
    assert f"{k8s_ns}/a" in line["msg"] and f"{k8s_ns}/b" in line["msg"]
    wait_until(lambda: (routing_conflicts(gw) or 0) > 0, 30, what="the conflict on /metrics")
    n_a = len(ea.conns)
    assert try_logon(gw, "CONFLICT_A") == logon(sender="CONFLICT_A")
    assert len(ea.conns) == n_a + 1
    assert try_logon(gw, "CONFLICT_B") == logon(sender="CONFLICT_B")  # b's last-known-good version
    # an unrelated FIXSession applied meanwhile still updates
    k8s.create(path, fixsession("c", "CONFLICT_C", "svc-a"))
    wait_routed(gw, "CONFLICT_C")
    # the conflict resolved: b's new version (now distinct) is published
    k8s.patch(f"{path}/b", {"spec": {"matchFields": {"SenderCompID49": {"value": "CONFLICT_B2"}}}})
    wait_routed(gw, "CONFLICT_B2")
    assert try_logon(gw, "CONFLICT_B", 2) == b""
    assert routing_conflicts(gw) == 0


def test_api_server_down_keeps_routing_and_watches_resume(k8s, k8s_ns, netns, gateway):
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("before", "DOWN_A", "svc"))
    gw = gateway(namespace=k8s_ns)
    wait_routed(gw, "DOWN_A")
    k8s.stop_apiserver()
    deadline = time.monotonic() + 30  # the issue's 30 s outage: routing goes on the whole time
    while time.monotonic() < deadline:
        assert try_logon(gw, "DOWN_A") == logon(sender="DOWN_A")
        time.sleep(1)
    k8s.start_apiserver()
    k8s.create(path, fixsession("after", "DOWN_B", "svc"))
    wait_routed(gw, "DOWN_B", timeout=60)  # the watch resumed (backoff is at most 30 s)
    assert try_logon(gw, "DOWN_A") == logon(sender="DOWN_A")


def test_thousand_fixsessions_applied_at_once(k8s, k8s_ns, netns, gateway, tmp_path):
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    gw = gateway(namespace=k8s_ns)
    docs = [dict(fixsession(f"bulk-{i:04d}", f"BULK{i:04d}", "svc"), metadata={"name": f"bulk-{i:04d}",
                                                                                 "namespace": k8s_ns})
            for i in range(1000)]
    (tmp_path / "bulk.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    t0 = time.monotonic()
    k8s.kubectl("apply", "--server-side", "-f", str(tmp_path / "bulk.json"), timeout=300)
    wait_routed(gw, "BULK0999", timeout=120)
    wait_routed(gw, "BULK0000", timeout=30)
    print(f"1,000 FIXSessions: kubectl apply to all routable {time.monotonic() - t0:.1f} s")
    assert gw.route(f"{k8s_ns}/bulk-0500")["ready_endpoints"] == 1
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_port}/routes", timeout=10) as r:
        routes = json.loads(r.read())["routes"]
    assert sum(1 for r in routes if r["name"].startswith(f"{k8s_ns}/bulk-")) == 1000


def test_schema_refused_fixsession_never_reaches_the_gateway(k8s, k8s_ns, netns, gateway):
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    gw = gateway(namespace=k8s_ns)
    bad = fixsession("bad", "BAD_A", "svc")
    bad["spec"]["target"]["service"]["port"] = {"number": 70000}
    with pytest.raises(ApiError) as e:
        k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", bad)
    assert e.value.status == 422
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fixsession("good", "GOOD_A", "svc"))
    wait_routed(gw, "GOOD_A")
    assert try_logon(gw, "BAD_A", 2) == b""


def test_routes_and_endpoints_keys_are_errors_in_kubernetes_mode(tmp_path, k8s):
    from conftest import FIXGW
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(f"listeners: [{{name: p, address: 127.0.0.1:{free_port()}}}]\n"
                   "routes: [x]\nendpoints: {}\n")
    kc = k8s.write_kubeconfig(tmp_path / "kc")
    r = subprocess.run([str(FIXGW), "gateway", "--config", str(cfg), "--kubeconfig", str(kc), "--check"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "gw.yaml:2:1" in r.stdout and "not used in Kubernetes mode" in r.stdout
    assert "gw.yaml:3:1" in r.stdout


def test_relist_after_410_gone_picks_up_changes_made_meanwhile(k8s, k8s_ns, netns, gateway):
    """Compaction + API server restart make the gateway's resourceVersions too old: its watches get 410
    Gone and relist; a FIXSession deleted and one created while it was cut off are both seen."""
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("old", "GONE_OLD", "svc"))
    gw = gateway(namespace=k8s_ns)
    wait_routed(gw, "GONE_OLD")
    k8s.stop_apiserver()
    k8s.start_apiserver()  # the gateway reconnects from its resourceVersion ...
    k8s.delete(f"{path}/old")
    k8s.create(path, fixsession("new", "GONE_NEW", "svc"))
    k8s.expire_resource_versions()  # ... which is now compacted away: 410, relist
    wait_routed(gw, "GONE_NEW", timeout=60)
    wait_until(lambda: try_logon(gw, "GONE_OLD", 2) == b"", 30, 0.1, "the deleted FIXSession to stop routing")


def test_named_port_and_pod_endpoints_from_the_controller_manager(k8s, k8s_ns, netns, gateway):
    """A Service with a selector, a named targetPort and a FIXSession naming the Service port by name: the
    EndpointSlice kube-controller-manager makes from the Pod resolves to the Pod's container port."""
    net = netns(1)
    eng = net.engine(port=7001)
    k8s.service(k8s_ns, "engine", ports=(("fix", 9880, "fix-port"),), selector={"app": "engine"})
    k8s.pod(k8s_ns, "engine-0", net.addr, {"app": "engine"}, ports=(("fix-port", 7001),))
    fs = fixsession("named", "NAMED_A", "engine")
    fs["spec"]["target"]["service"]["port"] = {"name": "fix"}
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fs)
    gw = gateway(namespace=k8s_ns)
    # kube-controller-manager writes the slice; after an API server restart (earlier tests) its informers
    # may still be backing off, so allow it time before asking anything of the gateway
    wait_until(lambda: k8s.ready_addresses(k8s_ns, "engine") == [net.addr], 120, 0.2,
               "kube-controller-manager to publish the Pod in the Service's EndpointSlice")
    wait_routed(gw, "NAMED_A", timeout=30)
    assert eng.conns
    k8s.set_pod_ready(k8s_ns, "engine-0", False)  # the Pod goes unready: new Logons are held
    wait_until(lambda: gw.route(f"{k8s_ns}/named")["ready_endpoints"] == 0, 120, 0.05,
               "the gateway to see the endpoint unready")
    s = gw.connect()
    s.sendall(logon(sender="NAMED_A"))
    gw.wait_log("hold_start")
    k8s.set_pod_ready(k8s_ns, "engine-0", True)
    gw.wait_log("hold_released", timeout=120)
    assert recv_exactly(s, len(logon(sender="NAMED_A"))) == logon(sender="NAMED_A")
    s.close()


def test_gateway_runs_with_read_only_rbac(k8s, k8s_ns, netns, tmp_path):
    """The gateway needs get/list/watch on FIXSessions, Services and EndpointSlices and nothing else: run it
    with a ServiceAccount bound to exactly that, and check the audit log shows it wrote nothing."""
    from conftest import FIXGW
    rules = [{"apiGroups": ["fixgw.io"], "resources": ["fixsessions"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}]
    k8s.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{k8s_ns}/roles",
               {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "gw"},
                "rules": rules})
    token = k8s.service_account_token(k8s_ns, "gw")
    k8s.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{k8s_ns}/rolebindings",
               {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "gw"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gw"},
                "subjects": [{"kind": "ServiceAccount", "name": "gw", "namespace": k8s_ns}]})
    net = netns(1)
    net.engine()
    selectorless_service(k8s, k8s_ns, "svc", [net.addr])
    k8s.create(f"{GROUP}/namespaces/{k8s_ns}/fixsessions", fixsession("ro", "RBAC_A", "svc"))
    gw = K8sGateway(tmp_path, k8s, None, namespace=k8s_ns)
    k8s.write_kubeconfig(gw.kubeconfig, user={"token": token})
    gw.start()
    try:
        wait_routed(gw, "RBAC_A")
    finally:
        gw.stop()
    user = f"system:serviceaccount:{k8s_ns}:gw"
    writes = [e for e in k8s.audit_events(user=user) if e.get("verb") not in ("get", "list", "watch")]
    assert not writes, writes


def test_quickfix_sessions_through_kubernetes_mode(k8s, k8s_ns, netns, gateway):
    """Real QuickFIX engines: two acceptors in a network namespace behind two Services, initiators log on
    through the gateway and are routed by SenderCompID to the acceptor their FIXSession names; each gets
    its echoes and logs out."""
    from gwharness import run_initiator
    net = netns(2)
    eq = net.acceptor("equities", addr=net.addrs[0])
    fi = net.acceptor("fi", addr=net.addrs[1])
    selectorless_service(k8s, k8s_ns, "equities-engine", [net.addrs[0]], port=eq.port)
    selectorless_service(k8s, k8s_ns, "fi-engine", [net.addrs[1]], port=fi.port)
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("broker-a", "QF_BROKER_A", "equities-engine"))
    k8s.create(path, fixsession("bank-b", "QF_BANK_B", "fi-engine"))
    gw = gateway(namespace=k8s_ns)
    for sender, acc in (("QF_BROKER_A", eq), ("QF_BANK_B", fi)):
        r = run_initiator(gw.port, sender, messages=5)
        assert r.rc == 0, r.explain()
        echoes = r.of("echo")
        assert [e["text"] for e in echoes] == [f"echo:{acc.name}:msg-{i}" for i in range(5)], r.explain()
        acc.wait_event("logon", sender=sender)
        acc.wait_event("logout", sender=sender)
    assert not eq.events("logon", sender="QF_BANK_B") and not fi.events("logon", sender="QF_BROKER_A")


def test_endpoints_that_are_gateway_pods_are_left_out(k8s, k8s_ns, netns, gateway):
    """ADR-019: an endpoint whose address the gateway Service's EndpointSlices list (any port, ready or not)
    is a gateway pod: a Logon relayed there would loop from pod to pod. The gateway leaves it out of every
    target, logs it and counts it; a Service that mixes gateway pods and engines keeps its engines; a target
    with only gateway pods holds; once the address leaves the gateway Service, it is routable again.
    The "gateway pods" here are listeners the test owns, so any connection to them would show."""
    net = netns(3)
    pod_a, real, pod_b = (net.engine(addr=a) for a in net.addrs)
    pods_ready, real_addr, pods_unready = net.addrs
    # the gateway's admin Service: one ready and one unready pod, on the admin port (not the route's port)
    k8s.service(k8s_ns, "fixgw-admin", ports=(("admin", 8080, 8080),))
    k8s.endpoint_slice(k8s_ns, "fixgw-admin", "fixgw-admin-1",
                       [pods_ready, k8s.endpoint(pods_unready, ready=False)], ports=(("admin", 8080),))
    selectorless_service(k8s, k8s_ns, "mixed", [pods_ready, real_addr, pods_unready])
    selectorless_service(k8s, k8s_ns, "loop", [pods_ready])
    path = f"{GROUP}/namespaces/{k8s_ns}/fixsessions"
    k8s.create(path, fixsession("mixed", "LOOP_MIXED", "mixed"))
    k8s.create(path, fixsession("loop", "LOOP_ONLY", "loop", holdTimeout="120s"))
    gw = gateway(namespace=k8s_ns, gateway_service=f"{k8s_ns}/fixgw-admin")

    msg = logon(sender="LOOP_MIXED")
    for _ in range(6):  # round-robin over three endpoints would reach a pod at least twice
        assert try_logon(gw, "LOOP_MIXED") == msg
    held = gw.connect()
    held.sendall(logon(sender="LOOP_ONLY"))
    gw.wait_log("hold_start", target=f"{k8s_ns}/loop:9880")
    assert not pod_a.conns and not pod_b.conns  # no connection ever reached a gateway pod
    assert len(real.conns) == 6

    line = gw.wait_log("routing_loop_endpoints")[-1]
    assert line["level"] == "WARN"
    assert line["gateway_service"] == f"{k8s_ns}/fixgw-admin"
    assert line["endpoints"] == 3
    assert sorted(line["addresses"].split(", ")) == sorted([pods_ready, pods_unready])
    assert sorted(line["targets"].split(", ")) == [f"{k8s_ns}/loop:9880", f"{k8s_ns}/mixed:9880"]
    assert gw.routes()["snapshot"]["loop_endpoints"] == 3
    assert gw.route(f"{k8s_ns}/mixed")["ready_endpoints"] == 1
    assert gw.route(f"{k8s_ns}/loop")["ready_endpoints"] == 0

    # the address leaves the gateway Service (say the pod was replaced): the held Logon is released to it
    k8s.set_endpoints(k8s_ns, "fixgw-admin-1", [k8s.endpoint(pods_unready, ready=False)])
    gw.wait_log("hold_released", target=f"{k8s_ns}/loop:9880", timeout=30)
    assert recv_exactly(held, len(logon(sender="LOOP_ONLY"))) == logon(sender="LOOP_ONLY")
    held.close()
    assert len(pod_a.conns) == 1 and not pod_b.conns
    wait_until(lambda: gw.routes()["snapshot"]["loop_endpoints"] == 1, 30, what="loop_endpoints to drop to 1")
    assert gw.logs("routing_loop_endpoints")[-1]["addresses"] == pods_unready


def test_gateway_service_slices_forbidden_is_a_start_up_error(k8s, k8s_ns, tmp_path):
    """kubernetes.gatewayService needs list/watch on EndpointSlices in the gateway Service's namespace:
    without it the gateway does not start, and says which permission is missing."""
    rules = [{"apiGroups": ["fixgw.io"], "resources": ["fixsessions"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}]
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces"
    k8s.create(f"{rbac}/{k8s_ns}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                         "metadata": {"name": "gw"}, "rules": rules})
    token = k8s.service_account_token(k8s_ns, "gw")
    k8s.create(f"{rbac}/{k8s_ns}/rolebindings",
               {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "gw"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gw"},
                "subjects": [{"kind": "ServiceAccount", "name": "gw", "namespace": k8s_ns}]})
    other = k8s.namespace("gwsvc")  # the gateway Service lives where the account may not read
    try:
        from conftest import FIXGW
        gw = K8sGateway(tmp_path, k8s, None, namespace=k8s_ns, gateway_service=f"{other}/fixgw-admin",
                        sync_timeout="10s")  # the three allowed lists sync well within it
        k8s.write_kubeconfig(gw.kubeconfig, user={"token": token})
        r = subprocess.run([str(FIXGW), "gateway", "--config", str(gw.config), "--kubeconfig",
                            str(gw.kubeconfig)], capture_output=True, text=True, timeout=60)
    finally:
        k8s.delete_namespace(other)
    assert r.returncode != 0
    boot = [json.loads(x) for x in r.stderr.splitlines() if '"boot_failed"' in x]
    assert boot, r.stderr[-3000:]
    assert "HTTP 403" in boot[-1]["msg"], boot[-1]
    assert f"endpointslices.discovery.k8s.io in namespace {other}" in boot[-1]["msg"], boot[-1]
