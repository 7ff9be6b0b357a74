"""The gateway end to end with raw sockets: every outcome of the connection flow, byte-exact forwarding,
hold/release, reload, orphans, limits. Engines are loopback echo servers (gwharness.Engine)."""
import json
import socket
import time

import pytest

from fixmsg import fix_message, logon
from gwharness import (Gateway, fixsession, free_port, recv_exactly, recv_until_closed, wait_read_by_peer,
                       wait_until)


def basic(tmp_path, engines, gateways, **kw):
    a, b = engines(), engines()
    routes = [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a"),
              fixsession("broker-b", {"SenderCompID49": "BROKER_B"}, service="svc-b")]
    gw = gateways(tmp_path, routes, {"trading/svc-a:9880": [a.port], "trading/svc-b:9880": [b.port]}, **kw)
    return gw.start(), a, b


def test_routes_by_sender_and_forwards_bytes_unchanged(tmp_path, engines, gateways):
    gw, a, b = basic(tmp_path, engines, gateways)
    for sender, eng in (("BROKER_A", a), ("BROKER_B", b)):
        msg = logon(sender=sender, extra=[(554, "s3cret")])
        with gw.connect() as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg)) == msg
            hb = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01"
            c.sendall(hb)
            assert recv_exactly(c, len(hb)) == hb
        eng.wait_conns(1)
        wait_until(lambda: eng.data(0) == msg + b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01", what="engine bytes")
    rec = gw.wait_log("routing_decision", fixsession="trading/broker-a")[0]
    assert rec["level"] == "INFO" and rec["decision"] == "ROUTE"
    assert rec["fields"]["SenderCompID49"] == "BROKER_A"
    assert rec["listener"] == "fix-plain" and rec["peer"].startswith("127.0.0.1:")
    assert rec["target"] == "trading/svc-a:9880"
    assert "s3cret" not in gw.raw_log()


def test_logon_split_at_every_byte(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways)
    msg = logon(sender="BROKER_A")
    for cut in (1, 7, len(msg) // 2, len(msg) - 1):
        with gw.connect() as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(msg[:cut])
            wait_read_by_peer(c)               # the gateway has read the first part on its own
            c.sendall(msg[cut:])
            assert recv_exactly(c, len(msg)) == msg
    # and one byte per write
    with gw.connect() as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(msg)):
            c.sendall(msg[i:i + 1])
            wait_read_by_peer(c)
        assert recv_exactly(c, len(msg)) == msg
    assert all(a.data(i) == msg for i in range(len(a.conns)))


def test_pipelined_messages_forwarded_in_order(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways)
    msg = logon(sender="BROKER_A")
    follow = b"".join(fix_message("FIX.4.4", "0", [(49, "BROKER_A"), (34, str(i))]) for i in range(2, 50))
    with gw.connect() as c:
        c.sendall(msg + follow)
        assert recv_exactly(c, len(msg + follow)) == msg + follow


def test_garbage_closed_with_warn_and_no_engine_contact(tmp_path, engines, gateways):
    gw, a, b = basic(tmp_path, engines, gateways)
    with gw.connect() as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, how = recv_until_closed(c)
        assert data == b""
    rec = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
    assert rec["level"] == "WARN" and "GET / HTTP/1.1" in rec["bytes"]
    assert "fields" not in rec                                  # nothing was parsed
    assert len(a.conns) == 0 and len(b.conns) == 0


def test_no_match_closed_with_warn_and_redacted_bytes(tmp_path, engines, gateways):
    gw, a, b = basic(tmp_path, engines, gateways)
    with gw.connect() as c:
        c.sendall(logon(sender="NOBODY", extra=[(554, "hunter2"), (925, "newpw")]))
        data, _ = recv_until_closed(c)
        assert data == b""
    rec = gw.wait_log("routing_decision", decision="NO_MATCH")[0]
    assert rec["level"] == "WARN"
    assert "49=NOBODY" in rec["bytes"] and "554=[REDACTED]" in rec["bytes"]
    assert rec["fields"] == {"SenderCompID49": "NOBODY"}        # what routing looked at
    assert "hunter2" not in gw.raw_log() and "newpw" not in gw.raw_log()
    assert gw.admin()["counters"]["rejections"]["no_match"] == 1


def test_no_match_goes_to_reject_engine(tmp_path, engines, gateways):
    rej = engines(prefix=b"")
    a = engines()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port]}, reject=rej.port).start()
    msg = logon(sender="STRANGER")
    with gw.connect() as c:
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg   # the stand-in reject engine echoes
    rej.wait_conns(1)
    assert rej.data(0) == msg
    rec = gw.wait_log("routing_decision", decision="REJECT_ENGINE")[0]
    assert rec["rejected_as"] == "NO_MATCH" and rec["fields"] == {"SenderCompID49": "STRANGER"}
    assert gw.admin()["counters"]["reject_engine_connections"] == 1


def test_default_route_and_wildcards(tmp_path, engines, gateways):
    exact, wild, dflt = engines(), engines(), engines()
    routes = [fixsession("exact", {"SenderCompID49": "BRK_A1"}, service="exact"),
              fixsession("wild", {"SenderCompID49": "BRK_*"}, service="wild", priority=10),
              fixsession("default", None, service="dflt", priority=0)]
    gw = gateways(tmp_path, routes, {"trading/exact:9880": [exact.port], "trading/wild:9880": [wild.port],
                                     "trading/dflt:9880": [dflt.port]}).start()
    for sender, eng in (("BRK_A1", exact), ("BRK_ZZ", wild), ("OTHER", dflt)):
        msg = logon(sender=sender)
        with gw.connect() as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg)) == msg
        eng.wait_conns(1)
    gw.wait_log("routing_decision", decision="DEFAULT_ROUTE")  # lines are flushed once per loop turn


def test_ambiguous_sender_refused(tmp_path, engines, gateways):
    gw, a, b = basic(tmp_path, engines, gateways)
    with gw.connect() as c:
        c.sendall(logon(sender="BROKER_A", extra=[(49, "BROKER_B")]))
        assert recv_until_closed(c)[0] == b""
    rec = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
    assert "twice" in rec["reason"]
    assert not a.conns and not b.conns


def test_slow_logon_hits_absolute_deadline(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways, extra="logonTimeout: 1s")
    msg = logon(sender="BROKER_A")
    with gw.connect() as c:
        closed_at = None
        for i in range(len(msg)):          # trickle: a byte every 100 ms would take ~7 s
            try:
                c.sendall(msg[i:i + 1])
            except OSError:
                closed_at = i
                break
            c.settimeout(0.1)
            try:
                if c.recv(1) == b"":
                    closed_at = i
                    break
            except socket.timeout:
                pass
            except OSError:                # a reset: closed with our bytes unread
                closed_at = i
                break
        # closed while the Logon was still incomplete: the deadline counts from accept, not per byte
        assert closed_at is not None and closed_at < len(msg) - 1, \
            "the gateway kept a trickling Logon past its deadline"
    gw.wait_log("routing_decision", decision="PARSE_FAILURE")
    assert not a.conns


def test_oversized_logon_refused(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways, extra="maxLogonBytes: 4096")
    big = logon(sender="BROKER_A", extra=[(58, "x" * 8000)])
    with gw.connect() as c:
        try:
            c.sendall(big)
        except OSError:
            pass
        assert recv_until_closed(c)[0] == b""
    rec = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
    assert "too large" in rec["reason"].lower() or "larger" in rec["reason"]
    assert not a.conns


def test_half_close_propagates_both_ways(tmp_path, engines, gateways):
    a = engines(close_on_eof=False)
    gw = gateways(tmp_path, [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port]}).start()
    msg = logon(sender="BROKER_A")
    c = gw.connect()
    c.sendall(msg)
    assert recv_exactly(c, len(msg)) == msg
    c.shutdown(socket.SHUT_WR)                  # client -> FIN
    a.wait_conns(1)
    wait_until(lambda: a.conns[0]["eof"], what="engine sees the client's FIN")
    # the engine can still talk after the client's half-close
    a.conns[0]["sock"].sendall(b"late reply")
    assert recv_exactly(c, 10) == b"late reply"
    a.conns[0]["sock"].shutdown(socket.SHUT_WR)  # engine -> FIN
    assert recv_until_closed(c)[0] == b""
    c.close()
    gw.wait_log("connection_closed", reason="both sides closed")


def test_engine_reset_closes_client(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways)
    msg = logon(sender="BROKER_A")
    with gw.connect() as c:
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg
        a.reset_all()
        data, how = recv_until_closed(c)
        assert data == b""
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, what="connection gone")


def test_hold_then_release(tmp_path, engines, gateways):
    a = engines()
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", hold_timeout="20s")]
    gw = gateways(tmp_path, routes, {"trading/svc-a:9880": [(a.port, False)]}).start()
    msg = logon(sender="A")
    c = gw.connect()
    c.sendall(msg)
    rec = gw.wait_log("hold_start")[0]
    assert rec["level"] == "ERROR" and rec["target"] == "trading/svc-a:9880"
    assert gw.route("trading/a")["held"] == 1
    c.sendall(b"queued-while-held")            # stays in the kernel until the engine is up
    time.sleep(0.2)                            # a window for a wrong forward to show: absence has no event
    assert not a.conns
    gw.write_config({"trading/svc-a:9880": [(a.port, True)]})
    gw.reload()
    rel = gw.wait_log("hold_released")[0]
    assert rel["level"] == "INFO" and rel["hold_duration_ms"] >= 150
    assert recv_exactly(c, len(msg) + 17) == msg + b"queued-while-held"
    assert a.data(0) == msg + b"queued-while-held"
    assert gw.route("trading/a")["held"] == 0 and gw.route("trading/a")["active"] == 1
    c.close()


def test_hold_timeout_is_critical(tmp_path, engines, gateways):
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", hold_timeout="1s")]
    gw = gateways(tmp_path, routes, {}).start()
    with gw.connect() as c:
        t0 = time.monotonic()
        c.sendall(logon(sender="A"))
        assert recv_until_closed(c, timeout=30)[0] == b""
        assert 0.8 < time.monotonic() - t0 < 15  # 1 s, bounded generously for a busy machine
    rec = gw.wait_log("hold_timeout")[0]
    assert rec["level"] == "CRITICAL" and rec["hold_duration_ms"] >= 900
    assert gw.admin()["counters"]["rejections"]["hold_timeout"] == 1


def test_hold_caps_per_route_and_per_process(tmp_path, engines, gateways):
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", max_held=2, hold_timeout="30s"),
              fixsession("b", {"SenderCompID49": "B"}, service="svc-b", max_held=5, hold_timeout="30s")]
    gw = gateways(tmp_path, routes, {}, extra="maxHeldConnectionsPerPod: 3").start()
    held = []
    for _ in range(2):
        c = gw.connect()
        c.sendall(logon(sender="A"))
        held.append(c)
    gw.wait_log("hold_start", count=2)
    third = gw.connect()
    third.sendall(logon(sender="A"))                # over the route's cap of 2
    assert recv_until_closed(third)[0] == b""
    rec = gw.wait_log("hold_cap_reached")[0]
    assert rec["level"] == "CRITICAL" and rec["cap"] == "maxHeldConnections"
    c = gw.connect()
    c.sendall(logon(sender="B"))                    # third held connection in the process: allowed
    held.append(c)
    gw.wait_log("hold_start", count=3)
    over = gw.connect()
    over.sendall(logon(sender="B"))                 # over the per-process cap of 3
    assert recv_until_closed(over)[0] == b""
    gw.wait_log("hold_cap_reached", cap="maxHeldConnectionsPerPod")
    assert gw.admin()["counters"]["held_connections"] == 3
    assert gw.admin()["counters"]["rejections"]["hold_cap_reached"] == 2
    for c in held:
        c.close()
    wait_until(lambda: gw.admin()["counters"]["held_connections"] == 0, what="held connections released")


def test_release_is_paced(tmp_path, engines, gateways):
    a = engines()
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", max_held=10, hold_timeout="30s")]
    gw = gateways(tmp_path, routes, {"trading/svc-a:9880": [(a.port, False)]},
                  extra="holdReleaseRate: 5", workers=1).start()
    clients = []
    for _ in range(5):
        c = gw.connect()
        c.sendall(logon(sender="A"))
        clients.append(c)
    gw.wait_log("hold_start", count=5)
    gw.write_config({"trading/svc-a:9880": [(a.port, True)]})
    t0 = time.monotonic()
    gw.reload()
    a.wait_conns(5, timeout=30)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.6, f"5 held connections released in {elapsed:.2f}s at 5/s: not paced"
    for c in clients:
        c.close()


def test_reload_keeps_live_sessions_and_orphans_reassociate(tmp_path, engines, gateways):
    a, b = engines(), engines()
    ra = fixsession("a", {"SenderCompID49": "A"}, service="svc-a")
    rb = fixsession("b", {"SenderCompID49": "B"}, service="svc-b")
    gw = gateways(tmp_path, [ra, rb], {"trading/svc-a:9880": [a.port], "trading/svc-b:9880": [b.port]}).start()
    live = gw.connect()
    msg = logon(sender="A")
    live.sendall(msg)
    assert recv_exactly(live, len(msg)) == msg
    # delete FIXSession a: the live session stays, becomes an orphan (ERROR with the count)
    gw.write_routes([rb])
    gw.reload()
    rec = gw.wait_log("orphan_sessions")[0]
    assert rec["level"] == "ERROR" and rec["fixsession"] == "trading/a" and rec["orphaned_connections"] == 1
    assert gw.admin()["orphans"] == [{"name": "trading/a", "orphaned": 1}]
    live.sendall(b"still-flowing")
    assert recv_exactly(live, 13) == b"still-flowing"
    # new connections for A no longer match
    with gw.connect() as c:
        c.sendall(logon(sender="A"))
        assert recv_until_closed(c)[0] == b""
    # re-apply: re-associated, error cleared
    gw.write_routes([ra, rb])
    gw.reload()
    gw.wait_log("orphans_reassociated", fixsession="trading/a")
    assert gw.admin()["orphans"] == []
    assert gw.route("trading/a")["active"] == 1
    live.close()


def test_reload_with_conflict_keeps_last_known_good(tmp_path, engines, gateways):
    a = engines()
    ra = fixsession("a", {"SenderCompID49": "A"}, service="svc-a")
    gw = gateways(tmp_path, [ra], {"trading/svc-a:9880": [a.port]}).start()
    gw.write_routes([ra, fixsession("a2", {"SenderCompID49": "A"}, service="svc-a")])
    gw.reload()
    rec = gw.wait_log("route_conflict")[0]
    assert rec["level"] == "CRITICAL" and "trading/a" in rec["msg"] and "trading/a2" in rec["msg"]
    gw.wait_log("reload_blocked")
    msg = logon(sender="A")
    with gw.connect() as c:
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg
    assert gw.admin()["last_reload_error"]


def test_reload_during_traffic(tmp_path, engines, gateways):
    a = engines()
    ra = fixsession("a", {"SenderCompID49": "A"}, service="svc-a")
    gw = gateways(tmp_path, [ra], {"trading/svc-a:9880": [a.port]}).start()
    clients = []
    for i in range(10):
        c = gw.connect()
        c.sendall(logon(sender="A"))
        clients.append(c)
    for round_ in range(5):
        gw.write_routes([ra, fixsession(f"x{round_}", {"SenderCompID49": f"X{round_}"}, service="svc-a")])
        gw.reload()
        for i, c in enumerate(clients):
            payload = f"r{round_}c{i}".encode()
            c.sendall(payload)
    for i, c in enumerate(clients):
        expect = logon(sender="A") + b"".join(f"r{r}c{i}".encode() for r in range(5))
        assert recv_exactly(c, len(expect)) == expect
        c.close()


def test_file_change_triggers_reload(tmp_path, engines, gateways):
    a = engines()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port]}).start()
    gw.write_routes([fixsession("a", {"SenderCompID49": "A"}, service="svc-a"),
                     fixsession("b", {"SenderCompID49": "B"}, service="svc-a")])
    gw.wait_log("reloaded", timeout=10)
    assert any(r["name"] == "trading/b" for r in gw.admin()["routes"])


def test_emfile_backoff_and_recovery(tmp_path, engines, gateways):
    import resource
    a = engines()
    gw = Gateway(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                 {"trading/svc-a:9880": [a.port]}, workers=1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    gw.start(expect_start=False, preexec_fn=limit)
    try:
        gw.wait_log("started")
        socks = []
        for _ in range(80):
            try:
                socks.append(gw.connect(timeout=2))
            except OSError:
                break
        gw.wait_log("accept_backoff", timeout=5)
        cpu0 = sum(map(int, open(f"/proc/{gw.proc.pid}/stat").read().split()[13:15]))
        time.sleep(1.0)                        # the window the CPU time is measured over
        cpu1 = sum(map(int, open(f"/proc/{gw.proc.pid}/stat").read().split()[13:15]))
        assert cpu1 - cpu0 < 30, "accept loop is spinning at EMFILE"
        for s in socks:
            s.close()
        msg = logon(sender="A")                # queued in the backlog until the gateway accepts again
        with gw.connect() as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg)) == msg
    finally:
        gw.stop()


def test_graceful_shutdown_drains(tmp_path, engines, gateways):
    a = engines()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port]}, extra="shutdownGracePeriod: 2s").start()
    c = gw.connect()
    msg = logon(sender="A")
    c.sendall(msg)
    assert recv_exactly(c, len(msg)) == msg
    import signal as sig
    gw.proc.send_signal(sig.SIGTERM)
    gw.wait_log("draining")
    c.sendall(b"during-drain")
    assert recv_exactly(c, 12) == b"during-drain"
    with pytest.raises(OSError):
        s = socket.create_connection(("127.0.0.1", gw.port()), timeout=1)
        s.sendall(logon(sender="A"))
        if s.recv(10) == b"":
            raise ConnectionRefusedError("closed")
    assert gw.proc.wait(30) == 0                # the grace period (2 s) ends the drain: c is still open
    c.close()


def test_admin_endpoints(tmp_path, engines, gateways):
    gw, a, b = basic(tmp_path, engines, gateways)
    assert gw.admin("/healthz") == b"ok\n"
    assert gw.admin("/readyz") == b"ready\n"
    doc = gw.admin()
    names = sorted(r["name"] for r in doc["routes"])
    assert names == ["trading/broker-a", "trading/broker-b"]
    assert all(r["target_resolvable"] for r in doc["routes"])


def test_invalid_config_exits_2(tmp_path, fixgw):
    import subprocess
    (tmp_path / "bad.yaml").write_text("listeners:\n  - name: x\n    address: nope\nbogus: 1\n")
    p = subprocess.run([fixgw, "gateway", "--config", str(tmp_path / "bad.yaml")], capture_output=True, timeout=10)
    assert p.returncode == 2
    assert b"bad.yaml:3" in p.stderr and b"bad.yaml:4" in p.stderr


def test_second_gateway_on_same_port_refuses_to_start(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways)
    import subprocess
    p = subprocess.run([gw.binary, "gateway", "--config", str(gw.dir / "gateway.yaml")], capture_output=True,
                       timeout=10)
    assert p.returncode == 2
    assert b"Address already in use" in p.stderr


def test_pinned_workers_follow_the_affinity_mask(tmp_path, engines, gateways):
    import os
    gw, a, _ = basic(tmp_path, engines, gateways, extra="tuning: {pinWorkers: true}")
    recs = gw.wait_log("worker_pinned", count=2)
    allowed = os.sched_getaffinity(0)
    for r in recs:
        cpu = int(r["msg"].split("CPU ")[1].split(" ")[0])
        assert cpu in allowed
    msg = logon(sender="BROKER_A")
    with gw.connect() as c:
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg


def test_idle_timeout_closes_quiet_sessions_only(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways, extra="idleTimeout: 1s")
    msg = logon(sender="BROKER_A")
    quiet, busy = gw.connect(), gw.connect()
    for c in (quiet, busy):
        c.sendall(msg)
        assert recv_exactly(c, len(msg)) == msg
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.8:        # busy talks every 300 ms, quiet says nothing
        busy.sendall(b"hb")
        assert recv_exactly(busy, 2) == b"hb"
        time.sleep(0.3)                        # the pace of a talking client: the behaviour under test
    assert recv_until_closed(quiet, timeout=3)[0] == b""
    busy.sendall(b"still")
    assert recv_exactly(busy, 5) == b"still"
    gw.wait_log("connection_closed", reason="idle timeout")
    busy.close()
    quiet.close()


def test_max_connections_pauses_accepting_until_one_closes(tmp_path, engines, gateways):
    gw, a, _ = basic(tmp_path, engines, gateways, extra="maxConnections: 3", workers=1)
    idle = [gw.connect() for _ in range(3)]          # no Logon yet: they count as connections
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 3, what="3 connections")
    msg = logon(sender="BROKER_A")
    late = gw.connect()                              # the kernel queues it; the gateway does not take it
    late.sendall(msg)
    late.settimeout(0.5)
    with pytest.raises(socket.timeout):
        late.recv(1)
    gw.wait_log("connection_cap")
    idle.pop().close()
    assert recv_exactly(late, len(msg), timeout=5) == msg
    for c in idle + [late]:
        c.close()


def test_next_endpoint_after_a_refused_connect(tmp_path, engines, gateways):
    live = engines()
    dead = free_port()                                # nothing listens here: connect is refused
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [dead, live.port]}, workers=1).start()
    msg = logon(sender="A")
    for _ in range(4):                                # round robin: the first session starts at the dead one
        with gw.connect() as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg)) == msg
    live.wait_conns(4)
    gw.wait_log("upstream_connect_failed")           # the dead endpoint was tried (once: then avoided)
    assert gw.admin()["counters"]["rejections"]["target_unreachable"] == 0


def test_all_endpoints_refusing_is_target_unreachable(tmp_path, engines, gateways):
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [free_port(), free_port()]}).start()
    with gw.connect() as c:
        c.sendall(logon(sender="A"))
        assert recv_until_closed(c)[0] == b""
    rec = gw.wait_log("target_unreachable")[0]
    assert rec["level"] == "ERROR" and rec["attempts"] == 2
    assert gw.admin()["counters"]["rejections"]["target_unreachable"] == 1
