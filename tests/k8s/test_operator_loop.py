"""ADR-019, the operator's side, against the real kube-apiserver: a FIXSession whose target Service lists an
address that the gateway Service's EndpointSlices list too (a gateway pod) gets TargetResolvable=False with
reason RoutingLoop (naming the Service, the address and the gateway Service), EndpointsReady and Ready False;
the route stays in the published table, which does not change. When the gateway Service's slices stop
listing the address, the statuses turn back by a status pass: no validation round and no publication starts
for a change of the gateway pods. Without --gateway-service there is no RoutingLoop.

The gateway Service lives in the test's namespace (the chart's layout: the operator's EndpointSlice informer
sees it too) or in another one (only the operator's gateway informer sees it). The addresses are TEST-NET-1
(192.0.2.0/24): nothing is ever reached there, and no test network namespace uses them."""
import pytest

from k8sharness import wait_until
from test_operator import FAST, _unique_senders, condition, fixsession, fs_path, operators, wait_condition  # noqa: F401
from test_operator_batch import pass_that_wrote
from test_publish import index, published

SCRAPE = ("--gateway-scrape-ms", "300", "--gateway-timeout-ms", "300")
ENGINE_READY, ENGINE_NOT_READY, ENGINE_OTHER = "192.0.2.7", "192.0.2.8", "192.0.2.9"
GATEWAY_ONLY = "192.0.2.20"


@pytest.fixture
def operator(k8s, k8s_ns, tmp_path):
    # --namespace: only this test's objects reach the informers
    yield from operators(k8s, k8s_ns, tmp_path, *FAST, "--namespace", k8s_ns, "--log-level", "debug")


def services(k8s, ns, gw_ns):
    """engine: three endpoints, one not ready; clean: one endpoint of its own; gw-admin (in gw_ns): the
    gateway pods, two of them also engine's endpoints (the not-ready one among them)."""
    k8s.service(ns, "engine")
    k8s.endpoint_slice(ns, "engine", "engine-1",
                       [ENGINE_READY, k8s.endpoint(ENGINE_NOT_READY, ready=False), ENGINE_OTHER])
    k8s.service(ns, "clean")
    k8s.endpoint_slice(ns, "clean", "clean-1", ["192.0.2.10"])
    k8s.service(gw_ns, "gw-admin", ports=(("admin", 9090, "admin"),))
    k8s.endpoint_slice(gw_ns, "gw-admin", "gw-admin-1", [ENGINE_NOT_READY, ENGINE_OTHER, GATEWAY_ONLY],
                       ports=(("admin", 9090),))
    k8s.create(fs_path(ns), fixsession("loop", "LOOP"))
    k8s.create(fs_path(ns), fixsession("clean", "CLEAN", service="clean"))


def wait_message(k8s, ns, name, ctype, pred, what):
    def ok():
        c = condition(k8s, ns, name, ctype)
        return c if c and pred(c) else None
    return wait_until(ok, 60, 0.1, what)


@pytest.mark.parametrize("where", ["same-namespace", "other-namespace"])
def test_target_on_gateway_pods_is_a_routing_loop(k8s, k8s_ns, operator, where):
    gw_ns = k8s_ns if where == "same-namespace" else k8s.namespace("t")
    try:
        services(k8s, k8s_ns, gw_ns)
        op = operator("a", "--gateway-service", f"{gw_ns}/gw-admin", *SCRAPE)
        c = wait_condition(k8s, k8s_ns, "loop", "TargetResolvable", "False", "RoutingLoop")
        m = c["message"]
        # the first gateway address in the engine's slice (a not-ready endpoint counts), and how many more
        assert f"Service {k8s_ns}/engine" in m and f"{ENGINE_NOT_READY} and 1 more" in m, m
        assert f"{gw_ns}/gw-admin" in m and "do not route there" in m and "ADR-019" in m, m
        e = wait_condition(k8s, k8s_ns, "loop", "EndpointsReady", "False", "TargetUnresolvable")
        assert e["message"] == m
        assert wait_condition(k8s, k8s_ns, "loop", "Ready", "False", "RoutingLoop")["message"] == m
        assert condition(k8s, k8s_ns, "loop", "Accepted")["status"] == "True"
        wait_condition(k8s, k8s_ns, "clean", "Ready", "True")
        w = op.wait_log("target_unresolvable", fixsession=f"{k8s_ns}/loop")[0]
        assert w["level"] == "WARN" and w["reason"] == "RoutingLoop", w
        # the route stays in the published table
        ix = wait_until(lambda: index(k8s, k8s_ns), 30, what="the published index")
        assert {f"{k8s_ns}/loop", f"{k8s_ns}/clean"} <= set(published(k8s, k8s_ns))
        tables = len(op.log.select("routing_table_published"))

        # the not-ready engine endpoint is no longer a gateway pod: the other one still is
        k8s.set_endpoints(gw_ns, "gw-admin-1", [ENGINE_OTHER, GATEWAY_ONLY])
        wait_message(k8s, k8s_ns, "loop", "TargetResolvable",
                     lambda c: ENGINE_OTHER in c["message"] and "more" not in c["message"], "RoutingLoop naming "
                     f"{ENGINE_OTHER} alone")
        # none is: back to True, and Ready (the engine has ready endpoints)
        k8s.set_endpoints(gw_ns, "gw-admin-1", [GATEWAY_ONLY])
        wait_condition(k8s, k8s_ns, "loop", "TargetResolvable", "True", "ServiceFound")
        wait_condition(k8s, k8s_ns, "loop", "EndpointsReady", "True")
        wait_condition(k8s, k8s_ns, "loop", "Ready", "True")
        op.wait_log("target_resolvable", fixsession=f"{k8s_ns}/loop")
        # a status pass did it (not a round: validation, publication), and the table did not change
        key = f"{k8s_ns}/loop"
        wait_until(lambda: pass_that_wrote(op, "target_resolvable", key), 30, what="the end of that pass")
        assert pass_that_wrote(op, "target_resolvable", key) == "status_pass_done"
        assert len(op.log.select("routing_table_published")) == tables
        after = index(k8s, k8s_ns)
        assert after["metadata"]["resourceVersion"] == ix["metadata"]["resourceVersion"]
        assert after["data"] == ix["data"]
        assert not op.log.select("status_write_failed")
    finally:
        if gw_ns != k8s_ns:
            k8s.delete_namespace(gw_ns)


def test_no_routing_loop_without_gateway_service(k8s, k8s_ns, operator):
    """The same objects, an operator without --gateway-service: it knows no gateway pods, the target is
    resolvable and ready."""
    services(k8s, k8s_ns, k8s_ns)
    op = operator("a")
    wait_condition(k8s, k8s_ns, "loop", "Ready", "True")
    assert condition(k8s, k8s_ns, "loop", "TargetResolvable")["reason"] == "ServiceFound"
    assert not [r for r in op.log.select("target_unresolvable")], op.log.select("target_unresolvable")
