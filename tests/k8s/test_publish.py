"""The operator publishes the validated routing table (ADR-010: content-addressed ConfigMap shards and an index
with a generation) and gateways in `routes: published` mode follow it, against the real kube-apiserver.

Each operator runs with the chart's RBAC under its own ServiceAccount (test_operator.Operator), validates this
test's namespace only (--namespace, so other tests' FIXSessions cannot conflict with these) and publishes into
it; each gateway reads the table from there and routes to an echo engine in a network namespace."""
import concurrent.futures
import json

import pytest

from fixmsg import logon
from gwharness import wait_until
from k8sgateway import GROUP, K8sGateway, fixsession, selectorless_service, try_logon, wait_routed
from test_operator import FAST, operators, wait_condition

INDEX = "fixgw-routing-table"
MIB = 1 << 20


def fs_path(ns, name=""):
    return f"{GROUP}/namespaces/{ns}/fixsessions" + (f"/{name}" if name else "")


def index(k8s, ns):
    return k8s.get(f"/api/v1/namespaces/{ns}/configmaps/{INDEX}", missing_ok=True)


def shards(k8s, ns):
    items = k8s.get(f"/api/v1/namespaces/{ns}/configmaps?labelSelector=fixgw.io/routing-table%3D{INDEX}")["items"]
    return {o["metadata"]["name"]: o for o in items if o["metadata"]["name"].startswith("fixgw-routes-")}


def referenced(ix):
    return {line.split()[3] for line in ix["data"]["table"].splitlines() if line.startswith("shard ")}


def published(k8s, ns):
    """The published table as the gateway reads it: namespace/name -> the FIXSession's spec."""
    out = {}
    ix = index(k8s, ns)
    have = shards(k8s, ns)
    for name in referenced(ix):
        for line in have[name]["data"]["fixsessions"].splitlines():
            key, text = line.split("\t", 1)
            out[key] = json.loads(text)["spec"]
    return out


def generation(k8s, ns):
    ix = index(k8s, ns)
    return int(ix["data"]["generation"]) if ix else 0


def sender_of(spec):
    return spec["matchFields"]["SenderCompID49"]["value"]


@pytest.fixture
def operator(k8s, k8s_ns, tmp_path):
    yield from operators(k8s, k8s_ns, tmp_path, *FAST, "--namespace", k8s_ns, "--publish-gc-ms", "2000")


@pytest.fixture
def gateway(tmp_path, k8s, k8s_ns):
    made = []

    def make(name="gateway", start=True, **kw):
        g = K8sGateway(tmp_path, k8s, None, namespace=k8s_ns, routes="published", table_namespace=k8s_ns,
                       name=name, **kw)
        made.append(g)
        return g.start() if start else g

    yield make
    for g in made:
        if g.proc and g.proc.returncode is None:
            g.stop()


def engine_service(k8s, ns, netns):
    net = netns(1)
    net.engine()
    selectorless_service(k8s, ns, "svc", [net.addr])


def test_published_table_routes_and_gateway_follows_generations(k8s, k8s_ns, netns, operator, gateway):
    engine_service(k8s, k8s_ns, netns)
    k8s.create(fs_path(k8s_ns), fixsession("a", "PUB_A", "svc"))
    op = operator("a")
    op.wait_log("routing_table_published")
    gen1 = generation(k8s, k8s_ns)
    assert gen1 >= 1
    gw = gateway()
    wait_routed(gw, "PUB_A")
    assert gw.logs("routing_table_loaded")[-1]["generation"] == gen1

    # a change: a new generation, which the gateway follows
    k8s.patch(fs_path(k8s_ns, "a"), {"spec": {"matchFields": {"SenderCompID49": {"value": "PUB_A2"}}}})
    wait_routed(gw, "PUB_A2")
    assert try_logon(gw, "PUB_A", 2) == b""
    gen2 = generation(k8s, k8s_ns)
    assert gen2 > gen1
    assert any(x["generation"] == gen2 for x in gw.logs("routing_table_loaded"))

    # the previous shard is deleted after the grace period (2 s here); only the index's shards remain
    wait_until(lambda: set(shards(k8s, k8s_ns)) == referenced(index(k8s, k8s_ns)), 30, 0.2,
               "unreferenced shards to be garbage-collected")
    assert op.log.select("shard_deleted")

    # a restarted operator republishes the same content under the same names: no write at all
    rv = index(k8s, k8s_ns)["metadata"]["resourceVersion"]
    op.stop()
    op2 = operator("b", "--log-level", "debug")
    op2.wait_log("lkg_seeded", timeout=60)
    op2.wait_log("pass_done", timeout=60)
    assert index(k8s, k8s_ns)["metadata"]["resourceVersion"] == rv
    assert generation(k8s, k8s_ns) == gen2
    assert not k8s.audit_events(user=op2.user, resource="configmaps")
    assert try_logon(gw, "PUB_A2") == logon(sender="PUB_A2")


def test_operator_down_gateway_keeps_table_and_restarted_gateway_loads_it(k8s, k8s_ns, netns, operator, gateway):
    engine_service(k8s, k8s_ns, netns)
    k8s.create(fs_path(k8s_ns), fixsession("b", "DOWN_B", "svc"))
    op = operator("a")
    op.wait_log("routing_table_published")
    gw = gateway()
    wait_routed(gw, "DOWN_B")
    op.stop()
    # nobody validates this change: it is not published, the gateways keep the validated table
    k8s.patch(fs_path(k8s_ns, "b"), {"spec": {"matchFields": {"SenderCompID49": {"value": "DOWN_B2"}}}})
    k8s.create(fs_path(k8s_ns), fixsession("c", "DOWN_C", "svc"))
    assert try_logon(gw, "DOWN_B") == logon(sender="DOWN_B")
    gw.stop()
    # a gateway (re)started while the operator is down still gets the table from the API server
    gw2 = gateway(name="gateway2")
    assert try_logon(gw2, "DOWN_B") == logon(sender="DOWN_B")
    assert try_logon(gw2, "DOWN_C", 2) == b""
    assert try_logon(gw2, "DOWN_B2", 2) == b""
    # the operator back: the pending changes are validated and published, the gateway follows
    operator("b")
    wait_routed(gw2, "DOWN_C")
    wait_routed(gw2, "DOWN_B2")


def test_conflicting_change_not_published_others_update(k8s, k8s_ns, netns, operator, gateway):
    engine_service(k8s, k8s_ns, netns)
    k8s.create(fs_path(k8s_ns), fixsession("a", "CONF_A", "svc"))
    k8s.create(fs_path(k8s_ns), fixsession("b", "CONF_B", "svc"))
    op = operator("a")
    op.wait_log("routing_table_published")
    gw = gateway()
    wait_routed(gw, "CONF_B")
    gen = generation(k8s, k8s_ns)
    # b changes to a's SenderCompID (a conflict) while c is created: c is published, b keeps its version
    k8s.patch(fs_path(k8s_ns, "b"), {"spec": {"matchFields": {"SenderCompID49": {"value": "CONF_A"}}}})
    k8s.create(fs_path(k8s_ns), fixsession("c", "CONF_C", "svc"))
    wait_routed(gw, "CONF_C")
    wait_condition(k8s, k8s_ns, "b", "Accepted", "False", "Conflict")
    assert generation(k8s, k8s_ns) > gen
    table = published(k8s, k8s_ns)
    assert {k: sender_of(v) for k, v in table.items()} == {
        f"{k8s_ns}/a": "CONF_A", f"{k8s_ns}/b": "CONF_B", f"{k8s_ns}/c": "CONF_C"}
    assert try_logon(gw, "CONF_B") == logon(sender="CONF_B")
    try_logon(gw, "CONF_A")
    last = gw.logs("routing_decision", decision="ROUTE")[-1]
    assert last["fixsession"] == f"{k8s_ns}/a", last


def test_corrupted_shard_refused_last_table_kept(k8s, k8s_ns, netns, operator, gateway):
    engine_service(k8s, k8s_ns, netns)
    k8s.create(fs_path(k8s_ns), fixsession("a", "CORR_A", "svc"))
    op = operator("a")
    op.wait_log("routing_table_published")
    gw = gateway()
    wait_routed(gw, "CORR_A")
    op.stop()
    # an edit through the API (shards are immutable: deleted and created again under the same name)
    ((name, shard),) = shards(k8s, k8s_ns).items()
    text = shard["data"]["fixsessions"].replace("CORR_A", "EVIL_A")
    k8s.delete(f"/api/v1/namespaces/{k8s_ns}/configmaps/{name}")
    k8s.create(f"/api/v1/namespaces/{k8s_ns}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "immutable": True, "data": {"fixsessions": text},
        "metadata": {"name": name, "labels": shard["metadata"]["labels"]}})

    def refused():
        return [x for x in gw.logs("routing_table_unusable") if "sha256" in x["msg"]]
    (line,) = wait_until(refused, 30, 0.1, "the gateway to refuse the edited shard")
    assert line["level"] == "ERROR" and name in line["msg"]
    assert try_logon(gw, "CORR_A") == logon(sender="CORR_A")  # the last table stays
    assert try_logon(gw, "EVIL_A", 2) == b""

    # nothing is served before a first complete table: a gateway started now does not start
    g2 = gateway(name="gateway2", start=False, sync_timeout="3s")
    import subprocess
    r = subprocess.run([g2.binary, "gateway", "--config", str(g2.config), "--kubeconfig", str(g2.kubeconfig)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "no complete routing table" in r.stderr and "sha256" in r.stderr

    # the operator back: it replaces the shard; the gateway says the table is whole again
    op2 = operator("b")
    op2.wait_log("shard_repaired")
    gw.wait_log("routing_table_intact", timeout=30)
    assert len(refused()) == 1  # logged once, though retried every second meanwhile
    assert try_logon(gw, "CORR_A") == logon(sender="CORR_A")


def test_ten_thousand_fixsessions_published_in_shards_below_1mib(k8s, k8s_ns, netns, operator, gateway):
    engine_service(k8s, k8s_ns, netns)
    n = 10000

    def create(i):
        k8s.create(fs_path(k8s_ns), fixsession(f"s-{i:05d}", f"TENK{i:05d}", "svc"))
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(create, range(n)))
    try:
        op = operator("a")
        op.wait_log("routing_table_published", timeout=600)
        ix = index(k8s, k8s_ns)
        assert "fixsessions 10000\n" in ix["data"]["table"]
        have = shards(k8s, k8s_ns)
        assert set(have) == referenced(ix) and len(have) > 1
        total = 0
        for name, cm in have.items():
            size = len(json.dumps(cm).encode())  # the whole object as the API server stores it
            assert size < MIB, (name, size)
            total += len(cm["data"]["fixsessions"].splitlines())
        assert total == n
        print(f"10,000 FIXSessions: {len(have)} shards, largest "
              f"{max(len(json.dumps(c).encode()) for c in have.values()) // 1024} KiB")
        op.proc.kill()  # in the middle of its 10,000 status writes (20 a second): the table is out already
        op.stop()
        gw = gateway(sync_timeout="120s")
        wait_routed(gw, "TENK09999")
        wait_routed(gw, "TENK00000")
    finally:
        k8s.request("DELETE", fs_path(k8s_ns), timeout=600)  # leave no 10,000 objects to other tests
        wait_until(lambda: not k8s.get(fs_path(k8s_ns) + "?limit=1")["items"], 300, 0.5,
                   "the FIXSessions to be deleted")
