"""Data-plane defects found by adversarial testing (issue 6), each a regression test with raw sockets: half-close
before the relay, failover away from a black-holed endpoint, clients leaving while their engine is stuck,
paced release against the hold timeout, and slow Logons against the reject engine."""
import fcntl
import socket
import struct
import threading
import time

import pytest

from conftest import UNDER_TSAN
from fixmsg import logon
from gwharness import (RejectEngineProc, fixsession, free_port, recv_exactly, recv_until_closed, tcp_queues,
                       wait_until)


class BlackHole:
    """An address whose connects time out: a listener with a full backlog that never accepts. With the accept
    queue full, Linux drops the SYN, so the connecting side retransmits until its own timeout."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        probe = socket.socket()
        probe.settimeout(0.3)
        with pytest.raises(socket.timeout):   # the hole really swallows SYNs
            probe.connect(("127.0.0.1", self.port))
        probe.close()

    def close(self):
        self.filler.close()
        self.srv.close()


class StuckEngine:
    """An engine that accepts and then never reads: the gateway's writes towards it stop once the socket
    buffers are full."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        self.srv.close()


def unsent(sock):
    """Bytes in sock's send queue not yet acknowledged by the peer's kernel (TIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), 0x5411, b"\0\0\0\0"))[0]


def unread(port, peer_port):
    """Bytes the kernel holds for the socket 127.0.0.1:port <-> :peer_port that its process has not read."""
    q = tcp_queues(("127.0.0.1", port), ("127.0.0.1", peer_port))
    return q[0] if q else 0


def fill_until_paused(sock, gw_port, chunk=65536, limit=256 << 20):
    """Send until the gateway stops reading sock, but keep every byte acknowledged (in the gateway's socket
    buffer): a FIN sent afterwards then reaches the gateway's kernel instead of queueing behind unsent data."""
    data = b"x" * chunk
    me = sock.getsockname()[1]
    total = 0
    while total < limit:
        sock.sendall(data)
        total += chunk
        wait_until(lambda: unsent(sock) == 0, 10, what="bytes acknowledged")
        held = unread(gw_port, me)
        if held and not wait_until_changes(lambda: unread(gw_port, me), held, 0.3):
            return total
    raise AssertionError("the gateway never stopped reading")


def wait_until_changes(fn, value, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn() != value:
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------- a. half-close before the relay

def test_logon_then_fin_while_connecting_reaches_the_engine(tmp_path, engines, gateways):
    """The client sends its Logon and shuts down its write side while the gateway is still connecting
    upstream: the engine must get the Logon bytes and then the FIN, and the client its answer."""
    hole = BlackHole()
    live = engines(close_on_eof=False)
    # The black hole is first in the list: the first connect waits out connectTimeout, so the client's FIN
    # surely arrives while the gateway is connecting.
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [hole.port, live.port]}, extra="connectTimeout: 500ms",
                  workers=1).start()
    try:
        msg = logon(sender="A")
        c = gw.connect()
        c.sendall(msg)
        c.shutdown(socket.SHUT_WR)
        live.wait_conns(1, timeout=10)
        wait_until(lambda: live.conns[0]["eof"], what="engine sees the client's FIN")
        assert live.data(0) == msg
        assert recv_exactly(c, len(msg)) == msg           # the engine's answer still reaches the client
        live.conns[0]["sock"].close()
        assert recv_until_closed(c)[0] == b""
        c.close()
        closed = gw.wait_log("connection_closed", reason="both sides closed")[0]
        assert closed["bytes_from_client"] == len(msg)
        assert not gw.logs("connection_closed", reason="client closed while connecting")
    finally:
        hole.close()


# ---------------------------------------------------------------- b. failover and the dead endpoint

def test_new_sessions_avoid_an_endpoint_that_just_timed_out(tmp_path, engines, gateways):
    hole = BlackHole()
    live = engines()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [hole.port, live.port]}, extra="connectTimeout: 500ms",
                  workers=1).start()
    try:
        msg = logon(sender="A")
        for _ in range(10):
            with gw.connect() as c:
                c.sendall(msg)
                assert recv_exactly(c, len(msg)) == msg
        live.wait_conns(10)
        timeouts = [r for r in gw.logs("upstream_connect_failed") if "timed out" in r["msg"]]
        assert len(timeouts) <= 1, f"{len(timeouts)} of 10 Logons started at the black hole"
    finally:
        hole.close()


def test_new_sessions_spread_evenly_over_ready_endpoints(tmp_path, engines, gateways):
    a, b, c3 = engines(), engines(), engines()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [a.port, b.port, c3.port]}, workers=1).start()
    msg = logon(sender="A")
    for _ in range(9):
        with gw.connect() as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg)) == msg
    wait_until(lambda: len(a.conns) + len(b.conns) + len(c3.conns) == 9, what="9 engine connections")
    assert [len(a.conns), len(b.conns), len(c3.conns)] == [3, 3, 3]


# ---------------------------------------------------------------- c. clients that leave a stuck engine

@pytest.mark.parametrize("how", ["fin", "reset"])
def test_client_leaving_while_engine_is_stuck_is_noticed(tmp_path, gateways, how):
    stuck = StuckEngine()
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")],
                  {"trading/svc-a:9880": [stuck.port]}, workers=1).start()   # idleTimeout: 0
    try:
        c = gw.connect()
        c.sendall(logon(sender="A"))
        gw.wait_log("routing_decision", decision="ROUTE")
        wait_until(lambda: stuck.conns, what="engine connection")
        assert fill_until_paused(c, gw.port()) > 0        # the gateway now stops reading the client
        if how == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        rec = gw.wait_log("connection_closed", timeout=20)[0]
        assert rec["reason"] in ("connection reset", "client closed while the engine was not reading")
        wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, what="session gone")
    finally:
        stuck.close()


# ---------------------------------------------------------------- d. paced release vs hold timeout

def test_held_sessions_with_a_ready_endpoint_wait_their_turn(tmp_path, engines, gateways):
    a = engines()
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", max_held=40, hold_timeout="2s")]
    gw = gateways(tmp_path, routes, {"trading/svc-a:9880": [(a.port, False)]},
                  extra="holdReleaseRate: 5", workers=1).start()
    clients = []
    msg = logon(sender="A")
    for _ in range(12):
        c = gw.connect()
        c.sendall(msg)
        clients.append(c)
    gw.wait_log("hold_start", count=12)
    gw.write_config({"trading/svc-a:9880": [(a.port, True)]})
    gw.reload()                      # ready now; at 5/s the last one is released ~2.2 s later
    a.wait_conns(12, timeout=15)
    for c in clients:
        assert recv_exactly(c, len(msg)) == msg
        c.close()
    assert not gw.logs("hold_timeout"), "a held session was closed while its endpoint was ready"
    assert gw.admin()["counters"]["rejections"]["hold_timeout"] == 0


def test_hold_timeout_still_applies_while_no_endpoint_is_ready(tmp_path, gateways):
    routes = [fixsession("a", {"SenderCompID49": "A"}, service="svc-a", hold_timeout="1s")]
    gw = gateways(tmp_path, routes, {"trading/svc-a:9880": [(free_port(), False)]},
                  extra="holdReleaseRate: 1", workers=1).start()
    with gw.connect() as c:
        c.sendall(logon(sender="A"))
        assert recv_until_closed(c, timeout=5)[0] == b""
    gw.wait_log("hold_timeout")


# ---------------------------------------------------------------- e. slow Logons and the reject engine

def test_incomplete_logon_at_the_deadline_gets_no_second_budget(tmp_path, engines, gateways):
    """A Logon still incomplete at logonTimeout is closed there; the reject engine (which would wait its own
    logon timeout) never sees it."""
    rej = RejectEngineProc()
    try:
        gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")], {},
                      reject=rej.port, extra="logonTimeout: 1s").start()
        partial = logon(sender="NOBODY")[:-10]
        with gw.connect() as c:
            t0 = time.monotonic()
            c.sendall(partial)
            assert recv_until_closed(c, timeout=15)[0] == b""
            assert time.monotonic() - t0 < 4, "the incomplete Logon got a second budget"
        rec = gw.wait_log("routing_decision", decision="PARSE_FAILURE")[0]
        assert rec["reason"] == "Logon incomplete at the deadline"
        assert gw.admin()["counters"]["reject_engine_connections"] == 0
        assert not rej.lines("connection_closed")
        # a complete Logon nobody claims still gets the reject engine's Logout
        with gw.connect() as c:
            c.sendall(logon(sender="NOBODY"))
            data, _ = recv_until_closed(c, timeout=15)
            assert b"35=5\x01" in data
    finally:
        rej.stop()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(UNDER_TSAN, reason="ThreadSanitizer's allocator keeps freed memory")
def test_partial_logon_memory_is_returned_after_the_connections_close(tmp_path, gateways):
    """500 connections each hold a 60 KB partial Logon (30 MB of buffers); once they are gone the gateway's
    RSS comes back near where it started."""
    n = 500
    gw = gateways(tmp_path, [fixsession("a", {"SenderCompID49": "A"}, service="svc-a")], {},
                  extra="maxLogonBytes: 100000\nlogonTimeout: 60s\nmaxConnections: 2000").start()
    pid = gw.proc.pid
    with open(f"/proc/{pid}/maps") as f:
        if "libasan" in f.read():
            pytest.skip("AddressSanitizer's allocator quarantines freed memory: RSS says nothing about glibc's")
    base = rss_kb(pid)
    partial = logon(sender="A", extra=[(58, "x" * 61000)])[:60000]
    socks = []
    for _ in range(n):
        s = gw.connect()
        s.sendall(partial)
        socks.append(s)
    wait_until(lambda: rss_kb(pid) > base + n * 60000 // 1024 // 2, timeout=30, what="buffers in use")
    during = rss_kb(pid)
    for s in socks:
        s.close()
    wait_until(lambda: gw.admin()["counters"]["active_connections"] == 0, timeout=30, what="all closed")
    try:
        wait_until(lambda: rss_kb(pid) < base + 8 * 1024, timeout=10, what="memory returned")
    finally:
        print(f"RSS before {base} kB, during {during} kB, after {rss_kb(pid)} kB")
