"""`fixgw operator --gateway-service NS/NAME` against the real kube-apiserver: each FIXSession's status counts
the connections the test holds open through two gateway processes (active ones routed to an engine, held ones
waiting on a Service with no ready endpoint), summed from the gateways' admin endpoints that the operator finds
through the gateway Service's EndpointSlices; counts fall when connections close; `kubectl get fixsessions`
shows them; a gateway that stops answering has its counts expire, and they come back when it answers again.

The gateway Service is selectorless with one hand-made EndpointSlice per gateway process, which is what the
EndpointSlice controller writes for two gateway pods whose named admin port resolves to different numbers.
The API server refuses loopback addresses in EndpointSlices, so the gateways' admin listeners bind the host
side of the test's own network namespace link (its 10.x.y.1), each on its own port. The operator runs with the chart's RBAC (test_operator.py)."""
import datetime
import json
import os
import signal
import urllib.request

import pytest

from fixmsg import logon
from gwharness import recv_exactly
from k8sgateway import K8sGateway, selectorless_service, try_logon
from k8sharness import wait_until
from test_operator import FAST, fs_path, operator  # noqa: F401 (operator: the fixture)

SCRAPE = ("--gateway-scrape-ms", "300", "--gateway-timeout-ms", "500", "--gateway-expiry-ms", "3000")


@pytest.fixture
def suffix():
    # the operator validates FIXSessions of every namespace as one set: senders unique to this test
    return "_" + os.urandom(3).hex().upper()


def fixsession(name, sender, service, **spec):
    s = {"matchFields": {"SenderCompID49": {"value": sender}},
         "target": {"service": {"name": service, "port": {"number": 9880}}}}
    s.update(spec)
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name}, "spec": s}


@pytest.fixture
def net(netns):
    n = netns(1)
    n.engine()
    return n


def admin_on_host_side(k8s, k8s_ns, d, net, **kw):
    """A K8sGateway (not started) whose admin listener is on the host side of net's link."""
    d.mkdir()
    g = K8sGateway(d, k8s, namespace=k8s_ns, **kw)
    g.admin_addr = net.host_addr
    g.config.write_text(g.config.read_text().replace(f"127.0.0.1:{g.admin_port}", f"{net.host_addr}:{g.admin_port}"))
    return g


def route_stats(g):
    with urllib.request.urlopen(f"http://{g.admin_addr}:{g.admin_port}/route-stats", timeout=10) as r:
        return json.loads(r.read())["fixsessions"]


@pytest.fixture
def gateways(k8s, k8s_ns, tmp_path, net):
    made = []

    def make(n, start=True, **kw):
        gws = [admin_on_host_side(k8s, k8s_ns, tmp_path / f"gw{len(made) + i}", net, **kw) for i in range(n)]
        made.extend(gws)
        return [g.start() for g in gws] if start else gws

    yield make
    for g in made:
        if g.proc and g.proc.poll() is None:
            g.proc.send_signal(signal.SIGCONT)
        if g.proc:
            g.stop()


def gateway_service(k8s, ns, gws):
    """A selectorless Service with an admin port and one EndpointSlice per gateway process."""
    k8s.service(ns, "gw-admin", ports=(("admin", 9090, "admin"),))
    for i, g in enumerate(gws, 1):
        k8s.endpoint_slice(ns, "gw-admin", f"gw-admin-{i}", [g.admin_addr], ports=(("admin", g.admin_port),))


def hold_routed(gw, sender):
    """A connection whose Logon the engine echoed: open until the test closes it."""
    s = gw.connect()
    msg = logon(sender=sender)
    s.sendall(msg)
    assert recv_exactly(s, len(msg), 10) == msg
    return s


def hold_parked(gw, sender, nth):
    """A connection held by the gateway (no ready endpoint): open until the test closes it."""
    s = gw.connect()
    s.sendall(logon(sender=sender))
    try:
        gw.wait_log("hold_start", timeout=20, count=nth)
    except AssertionError:
        print(gw.log.text()[-5000:])
        raise
    return s


def status(k8s, ns, name):
    return (k8s.get(fs_path(ns, name), missing_ok=True) or {}).get("status", {})


def wait_counts(k8s, ns, name, active, held, timeout=60):
    def ok():
        st = status(k8s, ns, name)
        return st if (st.get("activeConnections"), st.get("heldConnections")) == (active, held) else None
    return wait_until(ok, timeout, 0.1, f"{ns}/{name} active={active} held={held}")


def columns(k8s, ns):
    """`kubectl get fixsessions`: {name: {COLUMN: value}}, and the header."""
    out = k8s.kubectl("get", "fixsessions", "-n", ns).stdout.splitlines()
    header = out[0]
    starts = [header.index(h) for h in header.split()]
    names = header.split()
    rows = {}
    for line in out[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line) + 1])]
        rows[cells[0]] = dict(zip(names, cells))
    return names, rows


@pytest.mark.parametrize("routes", ["direct", "published"])
def test_status_counts_what_two_gateways_hold(k8s, k8s_ns, net, gateways, operator, suffix, routes):
    """routes: the gateways compile the FIXSessions themselves, or follow the table the operator publishes
    (the chart's default): the counts are keyed the same way."""
    routed, parked = "ROUTED" + suffix, "PARKED" + suffix
    selectorless_service(k8s, k8s_ns, "engine", [net.addr])
    selectorless_service(k8s, k8s_ns, "parked", [net.addr], ready=False)
    k8s.create(fs_path(k8s_ns), fixsession("routed", routed, "engine"))
    k8s.create(fs_path(k8s_ns), fixsession("parked", parked, "parked", holdTimeout="300s", maxHeldConnections=5))
    published = routes == "published"
    two_gateways = g1, g2 = gateways(2, start=False, routes=routes, table_namespace=k8s_ns if published else None)
    gateway_service(k8s, k8s_ns, two_gateways)
    op = operator("a", *FAST, "--gateway-service", f"{k8s_ns}/gw-admin", *SCRAPE,
                  *(("--publish-namespace", k8s_ns) if published else ()))
    op.wait_log("counts_started")
    for g in two_gateways:  # each gateway routes before the test starts counting
        g.start()
        wait_until(lambda: try_logon(g, routed, 2) == logon(sender=routed), 60, 0.05, "routed Logon")

    held_open = [hold_routed(g1, routed), hold_routed(g1, routed), hold_routed(g2, routed),
                 hold_parked(g1, parked, 1), hold_parked(g2, parked, 1), hold_parked(g2, parked, 2)]
    try:
        st = wait_counts(k8s, k8s_ns, "routed", 3, 0)
        wait_counts(k8s, k8s_ns, "parked", 0, 3)
        assert st["orphanedConnections"] == 0
        # what the operator read: g1's own share, in /route-stats
        mine = route_stats(g1)
        assert (mine[f"{k8s_ns}/routed"]["active"], mine[f"{k8s_ns}/parked"]["held"]) == (2, 1), mine
        # the routed Logons above: both timestamps set, in the last few minutes, whole seconds
        now = datetime.datetime.now(datetime.timezone.utc)
        for f in ("lastConnectionTime", "lastRoutingTime"):
            t = datetime.datetime.strptime(st[f], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            assert abs((now - t).total_seconds()) < 300, (f, st[f])
        assert "lastConnectionTime" not in status(k8s, k8s_ns, "parked")  # never connected upstream

        names, rows = columns(k8s, k8s_ns)
        assert names[:1] == ["NAME"] and {"TARGET", "READY", "ACTIVE", "HELD", "AGE"} <= set(names), names
        assert (rows["routed"]["TARGET"], rows["routed"]["ACTIVE"], rows["routed"]["HELD"]) == ("engine", "3", "0")
        assert (rows["parked"]["TARGET"], rows["parked"]["ACTIVE"], rows["parked"]["HELD"]) == ("parked", "0", "3")
        wait_until(lambda: columns(k8s, k8s_ns)[1]["routed"]["READY"] == "True", 60, 0.2, "routed READY True")
        assert columns(k8s, k8s_ns)[1]["parked"]["READY"] == "False"

        # connections close: the counts fall
        held_open.pop(0).close()  # a routed one on g1
        held_open.pop(-1).close()  # a held one on g2
        wait_counts(k8s, k8s_ns, "routed", 2, 0)
        wait_counts(k8s, k8s_ns, "parked", 0, 2)

        # g2 stops answering (frozen: its connections stay open): once its counts expire, only g1's remain
        # (the gateways may have been asked before they started: count the lines from here)
        failed, recovered = (len(op.log.select(e)) for e in ("gateway_scrape_failed", "gateway_scrape_recovered"))
        g2.proc.send_signal(signal.SIGSTOP)
        try:
            op.log.wait("gateway_scrape_failed", 20, failed + 1)
            op.wait_log("gateway_counts_expired", timeout=20)
            wait_counts(k8s, k8s_ns, "routed", 1, 0, timeout=30)
            wait_counts(k8s, k8s_ns, "parked", 0, 1, timeout=30)
        finally:
            g2.proc.send_signal(signal.SIGCONT)
        op.log.wait("gateway_scrape_recovered", 30, recovered + 1)
        wait_counts(k8s, k8s_ns, "routed", 2, 0)
        wait_counts(k8s, k8s_ns, "parked", 0, 2)
    finally:
        for s in held_open:
            s.close()
    wait_counts(k8s, k8s_ns, "routed", 0, 0)
    wait_counts(k8s, k8s_ns, "parked", 0, 0)
    assert not op.log.select("status_write_failed") and not op.log.select("counts_write_failed")


def audit_time(ev):
    return datetime.datetime.strptime(ev["requestReceivedTimestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_counts_writes_stay_within_their_budget(k8s, k8s_ns, net, gateways, operator, suffix):
    """--counts-qps 1 --counts-burst 1: six FIXSessions that a gateway reports get their counts at one write
    a second. A first operator without counts writes the conditions, so every status write of the second
    one (the API server's audit log) is a counts write: six, at least about a second apart. FIXSessions no
    gateway reports (another namespace's: zeros to fill in) wait until the reported ones are written."""
    k8s.service(k8s_ns, "engine")  # no endpoints: nothing connects, the counts are zeros
    names = [f"s{i}" for i in range(6)]
    for n in names:
        k8s.create(fs_path(k8s_ns), fixsession(n, f"B{n.upper()}{suffix}", "engine"))
    (g,) = gateways(1)
    wait_until(lambda: {f"{k8s_ns}/{n}" for n in names} <= set(route_stats(g)), 30, 0.1, "the gateway's routes")
    gateway_service(k8s, k8s_ns, [g])
    other = k8s.namespace("t")
    try:
        for i in range(3):
            k8s.create(fs_path(other), fixsession(f"o{i}", f"O{i}{suffix}", "engine"))
        first = operator("a", *FAST)
        wait_until(lambda: all(status(k8s, k8s_ns, n).get("conditions") for n in names) and
                   all(status(k8s, other, f"o{i}").get("conditions") for i in range(3)), 60, 0.2, "conditions")
        first.stop()
        second = operator("b", *FAST, "--gateway-service", f"{k8s_ns}/gw-admin", *SCRAPE,
                          "--counts-qps", "1", "--counts-burst", "1")
        for n in names:
            wait_counts(k8s, k8s_ns, n, 0, 0)
        every = [e for e in k8s.audit_events(user=second.user, resource="fixsessions", verb="update")
                 if e.get("responseStatus", {}).get("code") == 200]
    finally:
        k8s.delete_namespace(other)
    writes = [e for e in every if e["objectRef"].get("namespace") == k8s_ns]
    last = max(audit_time(e) for e in writes)
    # (only `other`'s: objects other tests left elsewhere may get conditions written by this new leader)
    assert not [e["objectRef"] for e in every if e["objectRef"].get("namespace") == other and audit_time(e) < last]
    assert sorted(e["objectRef"]["name"] for e in writes) == names, [(e["objectRef"], e["requestReceivedTimestamp"])
                                                                     for e in writes]
    assert all(e["objectRef"].get("subresource") == "status" for e in writes)
    t = sorted(audit_time(e) for e in writes)
    gaps = [(b - a).total_seconds() for a, b in zip(t, t[1:])]
    print(f"counts writes at --counts-qps 1: gaps {[round(x, 2) for x in gaps]} s")
    # a token bucket of 1/s, burst 1: never two writes in one token's time (lower bounds only: a busy machine
    # spreads them further, never closer, apart from the requests' own jitter)
    assert min(gaps) >= 0.5 and (t[-1] - t[0]).total_seconds() >= 4.0, gaps
