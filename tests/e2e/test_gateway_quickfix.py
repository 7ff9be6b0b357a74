"""The gateway between real FIX engines: a QuickFIX initiator (`build-peers/fix_initiator`) logs on through
`fixgw gateway` to one of several QuickFIX acceptors (`build-peers/fix_acceptor`, which echo every
application message). Every acceptor has the same CompID (VENUE), so an initiator can only land on the right
one through the gateway's routing; which one it reached is read from the acceptor's own `logon` event and
from the echoes (`echo:<acceptor name>:msg-<i>`).

FIXGW_PEERS_DIR overrides where the peers are (default build-peers/); tests skip when they are not built
(and fail under scripts/test.sh, which sets FIXGW_REQUIRE_PEERS=1).
"""
import datetime
import re
import signal
import time

import pytest

from gwharness import (Acceptor, Gateway, InitiatorRun, RejectEngineProc, fixsession, peer_binary,
                       run_initiator, wait_until)

N = 5  # application messages each way per session
REASON = "No matching session configuration"


@pytest.fixture
def procs():
    """Everything a test starts (acceptors, gateways, reject engines) is stopped at the end, in reverse."""
    made = []

    def keep(p):
        made.append(p)
        return p
    yield keep
    failure = None
    for p in reversed(made):  # every one, even after one of them failed its stop checks
        try:
            p.stop()
        except Exception as e:  # noqa: BLE001 (re-raised below)
            failure = failure or e
    if failure:
        raise failure


@pytest.fixture(autouse=True)
def _peers_built():
    peer_binary("fix_acceptor")
    peer_binary("fix_initiator")


def acceptors(procs, *names):
    return [procs(Acceptor(n)) for n in names]


def check_session(run, acc, sender, n=N, **logon_match):
    """The initiator logged on, got n echoes from `acc` (and from no other acceptor), and logged out."""
    assert run.rc == 0, run.explain()
    assert run.of("logon") and run.of("done")[0]["received"] == n, run.explain()
    echoes = run.of("echo")
    assert [e["headline"] for e in echoes] == [f"msg-{i}" for i in range(n)], run.explain()
    assert all(e["text"] == f"echo:{acc.name}:msg-{i}" for i, e in enumerate(echoes)), run.explain()
    logon = acc.wait_event("logon", sender=sender)[0]
    for k, v in logon_match.items():
        assert logon[k] == v, (k, logon)
    acc.wait_event("app", count=n, sender=sender)
    acc.wait_event("logout", sender=sender)
    return logon


def field(rec, tag):
    """A routing_decision's field by tag number. Standard tags are keyed by name and number
    (SenderCompID49); a custom tag's key is the gateway's (today Tag20001, not the manifest's
    AlgoStrategy20001), so match on the number alone."""
    hits = [v for k, v in rec["fields"].items() if re.fullmatch(rf"[A-Za-z]+{tag}", k)]
    assert len(hits) <= 1, rec["fields"]
    return hits[0] if hits else None


def keys(obj):
    """Every key of a JSON value, at any depth."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from keys(v)


# ---------------------------------------------------------------- routing


def test_routes_by_sender_comp_id(tmp_path, procs):
    eq, fi = acceptors(procs, "equities", "fixed-income")
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc"),
              fixsession("bank-b", {"SenderCompID49": "BANK_B"}, service="fi-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [eq.port],
                                          "trading/fi-svc:9880": [fi.port]}).start())
    runs = [InitiatorRun(gw.port(), "BROKER_A", messages=N), InitiatorRun(gw.port(), "BANK_B", messages=N)]
    ra, rb = (r.result() for r in runs)
    check_session(ra, eq, "BROKER_A", target="VENUE")
    check_session(rb, fi, "BANK_B", target="VENUE")
    # nothing crossed over
    assert not eq.events("logon", sender="BANK_B") and not fi.events("logon", sender="BROKER_A")
    assert not eq.events("rejected") and not fi.events("rejected")
    for sender, route, target in (("BROKER_A", "trading/broker-a", "trading/equities-svc:9880"),
                                  ("BANK_B", "trading/bank-b", "trading/fi-svc:9880")):
        rec = gw.wait_log("routing_decision", fixsession=route)[0]
        assert rec["decision"] == "ROUTE" and rec["target"] == target
        assert rec["fields"]["SenderCompID49"] == sender
    assert gw.admin()["counters"]["rejections"]["no_match"] == 0


def test_routes_by_multiple_fields(tmp_path, procs):
    rates, general = acceptors(procs, "rates", "general")
    routes = [fixsession("bank-c-rates", {"SenderCompID49": "BANK_C", "SenderSubID50": "RATES",
                                          "DeliverToCompID128": "RATES_DESK"}, service="rates-svc"),
              fixsession("bank-c", {"SenderCompID49": "BANK_C"}, service="general-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/rates-svc:9880": [rates.port],
                                          "trading/general-svc:9880": [general.port]}).start())
    # all three fields: the most specific route
    r = run_initiator(gw.port(), "BANK_C", sub_id="RATES", deliver_to="RATES_DESK", messages=N)
    check_session(r, rates, "BANK_C", sender_sub_id="RATES", deliver_to_comp_id="RATES_DESK")
    rec = gw.wait_log("routing_decision", fixsession="trading/bank-c-rates")[0]
    assert (field(rec, 49), field(rec, 50), field(rec, 128)) == ("BANK_C", "RATES", "RATES_DESK"), rec
    # same 49 and 50 but another 128: only the route on 49 alone matches
    r = run_initiator(gw.port(), "BANK_C", sub_id="RATES", deliver_to="CREDIT_DESK", messages=N)
    check_session(r, general, "BANK_C", sender_sub_id="RATES", deliver_to_comp_id="CREDIT_DESK")
    gw.wait_log("routing_decision", fixsession="trading/bank-c")
    # 49 alone
    r = run_initiator(gw.port(), "BANK_C", messages=N)
    assert r.rc == 0, r.explain()
    general.wait_event("logon", count=2, sender="BANK_C")
    assert len(rates.events("logon")) == 1 and len(general.events("logon")) == 2
    assert [e["deliver_to_comp_id"] for e in general.events("logon")] == ["CREDIT_DESK", ""]


def test_routes_by_custom_tag_redacted(tmp_path, procs):
    vwap, plain = acceptors(procs, "vwap", "plain")
    routes = [fixsession("broker-a-vwap", {"SenderCompID49": "BROKER_A",
                                           "AlgoStrategy20001": {"value": "VWAP", "redact": True}},
                         service="vwap-svc"),
              fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="plain-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/vwap-svc:9880": [vwap.port],
                                          "trading/plain-svc:9880": [plain.port]}).start())
    r = run_initiator(gw.port(), "BROKER_A", tags=["20001=VWAP"], messages=N)
    logon = check_session(r, vwap, "BROKER_A")
    assert logon["fields"]["20001"] == "VWAP"          # the engine gets the value untouched
    r = run_initiator(gw.port(), "BROKER_A", tags=["20001=TWAP"], messages=N)
    check_session(r, plain, "BROKER_A")
    rec = gw.wait_log("routing_decision", fixsession="trading/broker-a-vwap")[0]
    assert field(rec, 20001) == "[REDACTED]", rec
    rec = gw.wait_log("routing_decision", fixsession="trading/broker-a")[0]
    assert field(rec, 20001) in ("[REDACTED]", None), rec  # a redacted tag stays redacted for every route
    gw.stop()
    text = gw.raw_log()
    assert "VWAP" not in text and "TWAP" not in text, [l for l in text.splitlines() if "WAP" in l]


def test_log_false_tag_never_logged(tmp_path, procs):
    restricted, = acceptors(procs, "restricted")
    routes = [fixsession("hedgefund-d", {"SenderCompID49": "HEDGEFUND_D",
                                         "ComplianceID9001": {"value": "CMP-7781", "log": False}},
                         service="restricted-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/restricted-svc:9880": [restricted.port]},
                       extra="logLevel: debug").start())
    r = run_initiator(gw.port(), "HEDGEFUND_D", tags=["9001=CMP-7781"], messages=N)
    logon = check_session(r, restricted, "HEDGEFUND_D")
    assert logon["fields"]["9001"] == "CMP-7781"
    gw.wait_log("routing_decision", fixsession="trading/hedgefund-d")
    # a Logon with another value matches nothing: the NO_MATCH line carries the Logon's bytes
    r = run_initiator(gw.port(), "HEDGEFUND_D", tags=["9001=CMP-0000"], timeout_ms=4000)
    assert r.rc != 0, r.explain()
    gw.wait_log("routing_decision", decision="NO_MATCH")
    gw.stop()
    for rec in gw.logs():
        raw = rec["_raw"]
        # neither the value, nor the tag in a byte dump ("9001=..."), nor a key naming it (random ids,
        # ports and timestamps may contain the digits 9001, so the bare number is not searched for)
        assert "CMP-7781" not in raw and "CMP-0000" not in raw, raw
        assert "9001=" not in raw and "ComplianceID" not in raw, raw
        assert not [k for k in keys(rec) if k.endswith("9001")], raw


# ---------------------------------------------------------------- no route: the reject engine answers


def test_initiator_gets_reject_engine_logout(tmp_path, procs):
    acc, = acceptors(procs, "equities")
    rej = procs(RejectEngineProc(reason=REASON))
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [acc.port]}, reject=rej.port).start())
    r = run_initiator(gw.port(), "STRANGER", messages=N, password="Tr0ub4dor&3", timeout_ms=6000)
    assert r.rc == 3, r.explain()
    assert r.of("logout")[0]["text"] == REASON, r.explain()
    assert r.of("logout")[0]["received"] == 0 and not r.of("logon")
    assert REASON.encode() in r.stdout
    rec = gw.wait_log("routing_decision", decision="REJECT_ENGINE")[0]
    assert rec["level"] == "WARN"
    wait_until(lambda: rej.lines("reject"), what="reject engine's reject line")
    assert rej.lines("reject")[0]["sender_comp_id"] == "STRANGER"
    assert gw.admin()["counters"]["reject_engine_connections"] == 1
    assert not acc.events("accepted")


def test_password_never_logged(tmp_path, procs):
    acc, = acceptors(procs, "equities")
    rej = procs(RejectEngineProc(reason=REASON))
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [acc.port]}, reject=rej.port,
                       extra="logLevel: debug").start())
    secret = "S3cr3t-PW-554"
    r = run_initiator(gw.port(), "BROKER_A", username="alice", password=secret, messages=2)
    logon = check_session(r, acc, "BROKER_A", n=2)
    assert logon["fields"]["554"] == secret            # forwarded untouched to the engine
    r = run_initiator(gw.port(), "STRANGER", username="bob", password=secret, timeout_ms=6000)
    assert r.rc == 3, r.explain()
    rec = gw.wait_log("routing_decision", decision="REJECT_ENGINE")[0]
    assert "554=[REDACTED]" in rec["bytes"]
    wait_until(lambda: rej.lines("reject"), what="reject engine's reject line")
    gw.stop()
    rej.stop()
    assert secret not in gw.raw_log()
    assert secret not in rej.text()


# ---------------------------------------------------------------- hold, then release to a real engine


def test_hold_then_release_to_real_acceptor(tmp_path, procs):
    acc, = acceptors(procs, "equities")
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc",
                         hold_timeout="20s")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [(acc.port, False)]}).start())
    run = InitiatorRun(gw.port(), "BROKER_A", messages=N, timeout_ms=15000)
    gw.wait_log("hold_start")
    assert gw.route("trading/broker-a")["held"] == 1
    assert run.proc.poll() is None                      # still waiting for the Logon answer
    assert not acc.events("accepted")
    gw.write_config({"trading/equities-svc:9880": [(acc.port, True)]})
    gw.reload()
    gw.wait_log("hold_released")
    run.result()
    check_session(run, acc, "BROKER_A")
    assert gw.route("trading/broker-a")["held"] == 0


# ---------------------------------------------------------------- counters


def test_byte_counters_include_the_logon(tmp_path, procs):
    """The admin document's process-wide byte counters agree with the per-connection totals the gateway logs
    on `connection_closed` (which count the Logon: it is forwarded like every other byte)."""
    acc, = acceptors(procs, "equities")
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [acc.port]}).start())
    for sender in ("BROKER_A", "BROKER_A"):
        r = run_initiator(gw.port(), sender, messages=N)
        assert r.rc == 0, r.explain()
    closed = gw.wait_log("connection_closed", count=2)
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, what="sessions closed")
    c = gw.admin()["counters"]
    sent = sum(x["bytes_from_client"] for x in closed)
    received = sum(x["bytes_to_client"] for x in closed)
    assert c["bytes_to_clients"] == received
    assert c["bytes_from_clients"] == sent, (
        f"admin bytes_from_clients={c['bytes_from_clients']}, connection_closed lines say {sent} "
        f"(short by {sent - c['bytes_from_clients']}: the Logon bytes are not counted)")


# ---------------------------------------------------------------- more of the flow with real engines


@pytest.mark.parametrize("begin", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_routes_every_begin_string(tmp_path, procs, begin):
    eq = procs(Acceptor("equities", begin=begin))
    fi = procs(Acceptor("fixed-income", begin=begin))
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc"),
              fixsession("bank-b", {"SenderCompID49": "BANK_B", "SenderSubID50": "RATES"}, service="fi-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [eq.port],
                                          "trading/fi-svc:9880": [fi.port]}).start())
    ra = InitiatorRun(gw.port(), "BROKER_A", begin=begin, messages=N)
    rb = InitiatorRun(gw.port(), "BANK_B", begin=begin, sub_id="RATES", messages=N)
    check_session(ra.result(), eq, "BROKER_A", begin_string=begin)
    check_session(rb.result(), fi, "BANK_B", begin_string=begin, sender_sub_id="RATES")


def test_hidden_and_redacted_tags_stay_out_of_hold_logs(tmp_path, procs):
    """log: false and redact: true hold for every line a connection produces, held and released included."""
    acc, = acceptors(procs, "restricted")
    routes = [fixsession("hedgefund-d", {"SenderCompID49": "HEDGEFUND_D",
                                         "ComplianceID9001": {"value": "CMP-7781", "log": False},
                                         "AlgoStrategy20001": {"value": "VWAP", "redact": True}},
                         service="restricted-svc", hold_timeout="20s")]
    gw = procs(Gateway(tmp_path, routes, {"trading/restricted-svc:9880": [(acc.port, False)]},
                       extra="logLevel: debug").start())
    run = InitiatorRun(gw.port(), "HEDGEFUND_D", tags=["9001=CMP-7781", "20001=VWAP"], messages=N,
                       password="pw-in-held-logon", timeout_ms=15000)
    gw.wait_log("hold_start")
    gw.write_config({"trading/restricted-svc:9880": [(acc.port, True)]})
    gw.reload()
    logon = check_session(run.result(), acc, "HEDGEFUND_D")
    assert logon["fields"]["9001"] == "CMP-7781" and logon["fields"]["20001"] == "VWAP"
    gw.wait_log("hold_released")
    rec = gw.wait_log("routing_decision", fixsession="trading/hedgefund-d")[0]
    assert field(rec, 20001) == "[REDACTED]" and field(rec, 9001) is None, rec
    gw.stop()
    for rec in gw.logs():
        raw = rec["_raw"]
        for secret in ("CMP-7781", "VWAP", "pw-in-held-logon", "9001=", "ComplianceID"):
            assert secret not in raw, raw
        assert not [k for k in keys(rec) if k.endswith("9001")], raw


def test_hold_timeout_disconnects_the_initiator(tmp_path, procs):
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc", hold_timeout="1s")]
    gw = procs(Gateway(tmp_path, routes, {}).start())                 # no endpoints at all
    t0 = time.monotonic()
    r = run_initiator(gw.port(), "BROKER_A", messages=1, timeout_ms=6000)
    assert r.rc == 5 and not r.of("logon"), r.explain()          # closed without a Logout: never logged on
    assert 0.8 < time.monotonic() - t0 < 4
    rec = gw.wait_log("hold_timeout")[0]
    assert rec["level"] == "CRITICAL"
    assert gw.route("trading/broker-a")["hold_timeouts"] == 1


def test_engine_logout_reaches_the_initiator(tmp_path, procs):
    """The engine ends the session (its Logout, then close): the initiator gets that Logout through the
    gateway, and the gateway closes both sides."""
    acc, = acceptors(procs, "equities")
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [acc.port]}).start())
    run = InitiatorRun(gw.port(), "BROKER_A", messages=40, interval_ms=50)
    acc.wait_event("app", count=3)
    acc.stop()                                                   # Logout "acceptor stopping", then close
    run.result()
    assert run.rc == 3 and run.of("logout")[0]["text"] == "acceptor stopping", run.explain()
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, what="session closed")
    gw.wait_log("connection_closed")


def test_graceful_shutdown_lets_a_live_session_finish(tmp_path, procs):
    acc, = acceptors(procs, "equities")
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [acc.port]},
                       extra="shutdownGracePeriod: 10s").start())
    run = InitiatorRun(gw.port(), "BROKER_A", messages=12, interval_ms=100)
    acc.wait_event("app", count=2)
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    gw.wait_log("draining")
    r = run.result()
    assert r.rc == 0 and r.of("done")[0]["received"] == 12, r.explain()
    assert gw.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5, "the gateway waited for its grace period after the last session ended"
    # new Logons are no longer accepted while draining or after
    r = run_initiator(gw.port(), "BROKER_A", messages=1, timeout_ms=3000)
    assert r.rc != 0 and not r.of("logon"), r.explain()


def test_orphaned_session_keeps_flowing_after_its_fixsession_is_deleted(tmp_path, procs):
    acc, = acceptors(procs, "equities")
    ra = fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="equities-svc")
    rb = fixsession("bank-b", {"SenderCompID49": "BANK_B"}, service="equities-svc")
    gw = procs(Gateway(tmp_path, [ra, rb], {"trading/equities-svc:9880": [acc.port]}).start())
    run = InitiatorRun(gw.port(), "BROKER_A", messages=12, interval_ms=100)
    acc.wait_event("app", count=2)
    gw.write_routes([rb])
    gw.reload()
    rec = gw.wait_log("orphan_sessions")[0]
    assert rec["fixsession"] == "trading/broker-a" and rec["orphaned_connections"] == 1
    r = run.result()
    assert r.rc == 0 and r.of("done")[0]["received"] == 12, r.explain()
    # a new BROKER_A Logon no longer matches
    r = run_initiator(gw.port(), "BROKER_A", messages=1, timeout_ms=3000)
    assert r.rc != 0 and not r.of("logon"), r.explain()
    wait_until(lambda: gw.admin()["orphans"] == [], what="orphan count back to zero")


def test_release_pacing_is_per_route_not_per_worker(tmp_path, procs):
    """holdReleaseRate is "held connections released per second per route" (gateway-config.md): a recovering
    engine sees a trickle of Logons. Eight QuickFIX initiators held on one route, rate 4/s, two workers: no two
    releases of that route may come closer than one pacing interval, whichever worker holds them."""
    acc, = acceptors(procs, "equities")
    routes = [fixsession("brokers", {"SenderCompID49": "BRK_*"}, service="equities-svc", priority=10,
                         max_held=10, hold_timeout="30s")]
    gw = procs(Gateway(tmp_path, routes, {"trading/equities-svc:9880": [(acc.port, False)]},
                       extra="holdReleaseRate: 4", workers=2).start())
    runs = [InitiatorRun(gw.port(), f"BRK_{i}", messages=1, timeout_ms=20000) for i in range(8)]
    gw.wait_log("hold_start", count=8)
    gw.write_config({"trading/equities-svc:9880": [(acc.port, True)]})
    gw.reload()
    for r in runs:
        assert r.result().rc == 0, r.explain()
    stamps = sorted(datetime.datetime.fromisoformat(x["ts"].replace("Z", "+00:00")).timestamp()
                    for x in gw.wait_log("hold_released", count=8))  # lines may trail the sessions
    assert len(stamps) == 8
    gaps = [round(b - a, 3) for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) >= 0.2, f"releases of one route {gaps} s apart; at 4/s they must be >= 0.25 s apart"
