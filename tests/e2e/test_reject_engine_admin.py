"""`fixgw reject-engine --admin ADDR` end to end: /healthz, /readyz and /metrics of the real binary, the
counters a real rejected Logon moves, probes under a flood of idle admin connections, a stuck engine loop
reported by /healthz (fault injection: FIXGW_TEST_FAULTS=stall_reject_ms), readiness while draining, and
the flag's usage errors."""
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from fixmsg import logon
from gwharness import free_port, http_get, prom_value, wait_read_by_peer, wait_until
from test_reject_engine import BIN, DEFAULT_REASON, check_logout, engine, reject_once  # noqa: F401


def with_admin(engine, *args):
    port = free_port()
    return engine("--admin", f"127.0.0.1:{port}", *args), port


def test_probes_and_metrics_move_after_a_rejected_logon(engine):
    eng, admin = with_admin(engine)
    assert http_get(admin, "/healthz") == (200, b"ok\n")
    assert http_get(admin, "/readyz") == (200, b"ready\n")
    status, text = http_get(admin, "/metrics")
    assert status == 200
    assert b"# TYPE fixgw_reject_engine_connections_total counter" in text
    assert prom_value(text, "fixgw_reject_engine_connections_total") == 0
    assert prom_value(text, "fixgw_reject_engine_rejections_total", reason="logout_sent") == 0

    how, out = reject_once(eng, logon(sender="BROKER_A", target="FIXGW", extra=[(554, "SECRETPW")]))
    assert how == "eof"
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})
    # the outcome is counted when the connection closes, after the peer's FIN (the linger), so wait for it
    text = wait_until(lambda: (lambda t: t if prom_value(t, "fixgw_reject_engine_rejections_total",
                                                         reason="logout_sent") == 1 else None)(
        http_get(admin, "/metrics")[1]), 10, what="the rejection counted")
    assert prom_value(text, "fixgw_reject_engine_connections_total") == 1
    assert prom_value(text, "fixgw_reject_engine_connections_active") == 0
    assert b"SECRETPW" not in text and b"BROKER_A" not in text  # counters only: no identities, no secrets


def test_unknown_paths_methods_and_oversized_requests(engine):
    _, admin = with_admin(engine)
    status, body = http_get(admin, "/routes")
    assert status == 404 and b"/healthz" in body
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/healthz", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", admin), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n folded\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400 ")


def test_probes_answer_under_an_admin_connection_flood(engine):
    eng, admin = with_admin(engine)
    idle = []
    try:
        for _ in range(200):  # far more than the admin connection cap, none of them ever asking anything
            idle.append(socket.create_connection(("127.0.0.1", admin), timeout=5))
        for _ in range(5):
            assert http_get(admin, "/healthz") == (200, b"ok\n")
            assert http_get(admin, "/readyz") == (200, b"ready\n")
        eng.wait_event(lambda l: l.get("event") == "admin_flood")
    finally:
        for s in idle:
            s.close()


def test_healthz_fails_while_the_engine_loop_is_stuck_and_recovers(engine, monkeypatch):
    monkeypatch.setenv("FIXGW_TEST_FAULTS", "stall_reject_ms=8000")
    eng, admin = with_admin(engine)
    assert http_get(admin, "/healthz") == (200, b"ok\n")
    c = eng.connect()  # the engine accepts it and then hangs for 8 s (test-only)
    try:
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(http_get(admin, "/healthz")), 12,
                                  interval=0.2, what="/healthz to report the stuck loop")
        assert re.match(rb"the reject engine has not turned its event loop for \d+ ms\n$", body), body
        wait_until(lambda: http_get(admin, "/healthz") == (200, b"ok\n"), 15, interval=0.2, what="recovery")
    finally:
        c.close()


def test_readyz_fails_while_draining(engine):
    eng, admin = with_admin(engine, "--drain-timeout", "30s")
    s = eng.connect()
    s.sendall(logon()[:20])
    wait_read_by_peer(s)  # in flight: the drain waits for it
    eng.proc.send_signal(signal.SIGTERM)
    eng.wait_event(lambda l: l.get("event") == "draining")
    assert http_get(admin, "/readyz") == (503, b"draining\n")
    assert http_get(admin, "/healthz") == (200, b"ok\n")  # draining is not dead
    s.close()
    assert eng.proc.wait(10) == 0


def test_admin_usage_errors(engine):
    def run(*args):
        return subprocess.run([str(BIN), "reject-engine", *args], capture_output=True, timeout=10)

    p = run("--help")
    assert b"--admin ADDR" in p.stdout
    for bad in ("bogus", "localhost:9000", "127.0.0.1:99999", ""):
        p = run("--listen", "127.0.0.1:1", "--admin", bad)
        assert p.returncode == 2 and b"--admin" in p.stderr, (bad, p.stderr)
    p = run("--listen", "127.0.0.1:9881", "--admin", "127.0.0.1:9881")
    assert p.returncode == 2 and b"the same address as --listen" in p.stderr
    eng, admin = with_admin(engine)
    p = run("--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{admin}")  # in use
    assert p.returncode == 1 and b"admin" in p.stderr
