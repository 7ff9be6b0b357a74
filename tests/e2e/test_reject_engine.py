"""`fixgw reject-engine` end to end: the real binary on a loopback port, raw sockets and the QuickFIX
initiator as counterparties. What is checked: the exact Logout (fields, BodyLength, CheckSum), the
unanswered cases (garbage, too large, timeout, EOF, unanswerable CompIDs), limits (max connections, fd
exhaustion), redaction of secrets in logs, and shutdown.

FIXGW_BIN=/path/to/fixgw runs the same tests against another build (the asan-ubsan one, say).
FIXGW_PEERS_DIR overrides where the QuickFIX peers are (default build-peers/).
"""
import json
import os
import pathlib
import re
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import FIXGW, ROOT, missing_peer
from fixmsg import SOH, fix_message, logon
from gwharness import free_port, wait_read_by_peer, wait_until

BIN = pathlib.Path(os.environ.get("FIXGW_BIN", FIXGW))
PEERS = pathlib.Path(os.environ.get("FIXGW_PEERS_DIR", ROOT / "build-peers"))
DEFAULT_REASON = "No matching session configuration"
SENDING_TIME = re.compile(rb"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{3}$")


# ---------------------------------------------------------------- harness


class Engine:
    """A running `fixgw reject-engine`; stderr JSON lines are collected by a thread."""

    def __init__(self, args, preexec_fn=None):
        self.lines = []  # parsed JSON log lines
        self.raw = []  # every stderr line, as bytes, parsed or not
        self.cond = threading.Condition()
        for _ in range(5):  # the free port may be taken between probe and bind: retry
            self.port = free_port()
            cmd = [str(BIN), "reject-engine", "--listen", f"127.0.0.1:{self.port}", *args]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         preexec_fn=preexec_fn)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
            if self.wait_event(lambda l: l.get("event") == "listening", timeout=10, check=False):
                return
            self.proc.kill()
            self.proc.wait()
        raise AssertionError("reject engine never logged 'listening':\n" + self.stderr_text())

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.raw.append(line)
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_event(self, pred, timeout=5.0, check=True):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hit = next((l for l in self.lines if pred(l)), None)
                if hit is not None:
                    return hit
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    if check:
                        raise AssertionError("no matching log line:\n" + self.stderr_text())
                    return None
                self.cond.wait(min(left, 0.1))

    def events(self, name):
        with self.cond:
            return [l for l in self.lines if l.get("event") == name]

    def stderr_text(self):
        with self.cond:
            return b"".join(self.raw).decode(errors="replace")

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, timeout=10):
        """SIGTERM; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        return rc, time.monotonic() - t0

    def close(self):
        """Stop cleanly (so that LeakSanitizer runs at exit); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode


@pytest.fixture
def engine():
    """Factory: engine(args...) starts one; all are killed at the end of the test."""
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: build first (cmake --build --preset default)")
    started = []

    def start(*args, preexec_fn=None):
        e = Engine(list(args), preexec_fn=preexec_fn)
        started.append(e)
        return e

    yield start
    codes = [e.close() for e in started]  # every one stopped before any check can fail
    for e, rc in zip(started, codes):
        # Under the sanitizers a memory error or leak ends the process with a report on stderr.
        text = b"".join(e.raw)
        for report in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
            assert report not in text, e.stderr_text()
        assert rc == 0, e.stderr_text()


def read_until_closed(s, timeout=10.0):
    """Everything the engine sends until it closes; ('eof'|'reset'|'timeout', bytes)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return "eof", data
            data += chunk
    except ConnectionResetError:
        return "reset", data
    except socket.timeout:
        return "timeout", data


def send_ignoring_reset(s, data):
    """The engine may close (and reset) while we are still writing something it refused."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def parse_fix(msg):
    """[(tag, value)] of one message; asserts the framing is exact."""
    assert msg.endswith(SOH), msg
    fields = []
    for part in msg[:-1].split(SOH):
        tag, eq, value = part.partition(b"=")
        assert eq and tag.isdigit(), msg
        fields.append((int(tag), value))
    return fields


def check_logout(msg, reason, expect_idents):
    """Assert msg is exactly one well-formed Logout: 8/9/35 first, 10 last, BodyLength and CheckSum
    right, 34=1, a UTC SendingTime, Text = reason, and exactly the expected identity fields."""
    fields = parse_fix(msg)
    tags = [t for t, _ in fields]
    assert tags[:3] == [8, 9, 35] and tags[-1] == 10, fields
    values = dict(fields)
    assert len(values) == len(fields), "a tag occurs twice"
    assert values[35] == b"5"
    assert values[34] == b"1"
    assert SENDING_TIME.match(values[52]), values[52]
    assert values[58] == reason.encode()
    body_start = msg.index(b"\x0135=") + 1
    trailer = msg.rindex(b"10=")
    assert int(values[9]) == trailer - body_start, "BodyLength"
    assert values[10] == b"%03d" % (sum(msg[:trailer]) % 256), "CheckSum"
    idents = {t: v.decode() for t, v in fields if t not in (8, 9, 10, 34, 35, 52, 58)}
    assert idents == expect_idents
    return values


def reject_once(eng, data):
    s = eng.connect()
    s.sendall(data)
    how, out = read_until_closed(s)
    s.close()
    return how, out


# ---------------------------------------------------------------- the Logout


@pytest.mark.parametrize("begin", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_logout_fields_exact(engine, begin):
    reason = "Unknown session: call +1 555 0100 (ops)"
    eng = engine("--reason", reason)
    extra = [(50, "DESK1"), (57, "GWSUB"), (142, "NY"), (143, "LDN"), (553, "alice"), (554, "SECRETPW"),
             (9999, "custom"), (1137, "9")]
    msg = logon(sender="BROKER_A", target="FIXGW", begin=begin, extra=extra)
    how, out = reject_once(eng, msg)
    assert how == "eof"
    values = check_logout(out, reason, {49: "FIXGW", 56: "BROKER_A", 50: "GWSUB", 57: "DESK1",
                                        142: "LDN", 143: "NY"})
    assert values[8] == begin.encode()
    for leaked in (b"SECRETPW", b"alice", b"custom", b"1137=", b"98=", b"108="):
        assert leaked not in out
    line = eng.wait_event(lambda l: l.get("event") == "reject")
    assert line["level"] == "INFO"
    assert line["begin_string"] == begin
    assert line["sender_comp_id"] == "BROKER_A" and line["target_comp_id"] == "FIXGW"
    assert line["reason"] == reason
    assert line["peer"].startswith("127.0.0.1:")


def test_default_reason_and_minimal_logon(engine):
    eng = engine()
    how, out = reject_once(eng, fix_message("FIX.4.4", "A", [(49, "X"), (56, "Y"), (34, "1")]))
    assert how == "eof"
    check_logout(out, DEFAULT_REASON, {49: "Y", 56: "X"})


def test_logon_split_into_single_bytes(engine):
    eng = engine()
    msg = logon(begin="FIXT.1.1", extra=[(1137, "9"), (554, "SECRETPW")])
    s = eng.connect()
    for i in range(len(msg)):
        s.send(msg[i:i + 1])
        wait_read_by_peer(s)
    # Bytes after the Logon (the peer's next message) are never answered or echoed.
    s.send(b"8=FIX.4.4\x019=5\x0135=0\x01")
    how, out = read_until_closed(s)
    s.close()
    assert how == "eof"
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})


def test_every_split_point_of_a_logon(engine):
    eng = engine()
    msg = logon(extra=[(50, "S")])
    for cut in range(1, len(msg), 7):
        s = eng.connect()
        s.send(msg[:cut])
        wait_read_by_peer(s)
        s.send(msg[cut:])
        how, out = read_until_closed(s)
        s.close()
        assert how == "eof", cut
        check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A", 57: "S"})


# ---------------------------------------------------------------- closed without an answer


def unanswered(eng, outcome, timeout=5):
    return eng.wait_event(lambda l: l.get("event") == "reject_unanswered" and l.get("outcome") == outcome,
                          timeout=timeout)


def test_garbage_closed_without_any_bytes(engine):
    eng = engine()
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                 fix_message("FIX.4.4", "D", [(49, "A"), (56, "B")])):
        s = eng.connect()
        send_ignoring_reset(s, data)
        how, out = read_until_closed(s)
        s.close()
        assert out == b"", data
        assert how in ("eof", "reset")
    line = unanswered(eng, "invalid")
    assert line["level"] == "WARN"
    assert line["received_bytes"] > 0 and line["received"]
    assert not eng.events("reject")


def test_oversized_logon_closed(engine):
    eng = engine("--max-logon-bytes", "256")
    msg = logon(extra=[(58, "x" * 1000)])
    s = eng.connect()
    send_ignoring_reset(s, msg)
    how, out = read_until_closed(s)
    s.close()
    assert out == b"" and how in ("eof", "reset")
    line = unanswered(eng, "too_large")
    assert line["received_bytes"] <= 257
    # A Logon just under the limit is still answered.
    small = logon()
    assert len(small) < 256
    how, out = reject_once(eng, small)
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})


def test_slow_logon_times_out(engine):
    eng = engine("--logon-timeout", "600ms")
    msg = logon()
    s = eng.connect()
    t0 = time.monotonic()
    s.send(msg[:20])
    how, out = read_until_closed(s, timeout=10)
    elapsed = time.monotonic() - t0
    s.close()
    assert out == b"" and how in ("eof", "reset")
    assert 0.5 <= elapsed < 15, elapsed  # 600 ms, bounded generously for a busy machine
    line = unanswered(eng, "timeout")
    assert line["received_bytes"] == 20
    # The deadline is absolute: dribbling bytes does not extend it. A byte every 50 ms would take ~3 s: the
    # engine closes while the Logon is still incomplete.
    s = eng.connect()
    closed = False
    for b in msg[:-10]:
        try:
            s.send(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.05)  # the pace of a dribbling client: the behaviour under test
    assert closed, "a dribbled Logon outlived its absolute deadline"
    s.close()


def test_eof_mid_logon_and_empty_connection(engine):
    eng = engine("--log-level", "debug")
    s = eng.connect()
    s.sendall(logon()[:30])
    s.shutdown(socket.SHUT_WR)
    how, out = read_until_closed(s)
    s.close()
    assert out == b""
    assert unanswered(eng, "eof")["level"] == "WARN"
    # A connection that sends nothing (a TCP health probe) is only a DEBUG line.
    s = eng.connect()
    s.close()
    assert unanswered(eng, "empty")["level"] == "DEBUG"


def test_unanswerable_compids_closed_without_answer(engine):
    eng = engine()
    for sender in ("X" * 65, "caf\xe9"):
        msg = fix_message("FIX.4.4", "A", [(49, sender.encode("latin-1")), (56, "FIXGW"), (34, "1")])
        how, out = reject_once(eng, msg)
        assert out == b"", sender
    line = unanswered(eng, "unanswerable")
    assert line["level"] == "WARN"
    assert not eng.events("reject")


def test_password_never_in_logs(engine):
    eng = engine("--log-level", "debug", "--logon-timeout", "500ms", "--max-logon-bytes", "300")
    secret = b"SECRETPW"
    cases = [
        logon(extra=[(554, "SECRETPW")]),  # answered
        logon(extra=[(554, "SECRETPW")])[:-12],  # incomplete, then EOF
        b"8=FIX.4.4\x019=5\x0135=D\x01554=SECRETPW\x01",  # invalid
        b"GET /?554=SECRETPW HTTP/1.1\r\n\r\n",  # not FIX at all
        logon(extra=[(554, "SECRETPW"), (58, "y" * 400)]),  # too large
        logon(sender="X" * 70, extra=[(554, "SECRETPW")]),  # unanswerable
        logon(extra=[(95, "8"), (96, b"SECR\x01ETPW"), (925, "SECRETPW")]),  # data fields
    ]
    for data in cases:
        s = eng.connect()
        send_ignoring_reset(s, data)
        if data is cases[1]:
            s.shutdown(socket.SHUT_WR)
        read_until_closed(s)
        s.close()
    s = eng.connect()  # and one that times out
    s.sendall(logon(extra=[(554, "SECRETPW")])[:-30])
    read_until_closed(s)
    s.close()
    for outcome in ("eof", "invalid", "too_large", "unanswerable", "timeout"):
        unanswered(eng, outcome)
    rc, _ = eng.stop()
    assert rc == 0
    text = b"".join(eng.raw)
    assert secret not in text
    assert b"SECR" not in text.replace(b"[REDACTED]", b"")
    assert b"[REDACTED]" in text


def test_mask_and_hide_tags_apply_to_every_line(engine):
    """--mask-tag / --hide-tag carry a FIXSession's redact: true / log: false into the engine's lines."""
    eng = engine("--mask-tag", "20001", "--hide-tag", "9001", "--logon-timeout", "500ms")
    answered = logon(extra=[(20001, "VWAPSECRET"), (9001, "HIDDENVAL")])
    how, out = reject_once(eng, answered)
    assert out.startswith(b"8=FIX.4.4")
    s = eng.connect()                                # unanswered: its bytes are dumped at WARN
    s.sendall(answered[:-20])
    read_until_closed(s)
    s.close()
    unanswered(eng, "timeout")
    rc, _ = eng.stop()
    assert rc == 0
    text = b"".join(eng.raw)
    assert b"20001=[REDACTED]" in text
    assert b"VWAPSECRET" not in text and b"HIDDENVAL" not in text and b"9001=" not in text


# ---------------------------------------------------------------- load and limits


def test_many_concurrent_connections(engine):
    eng = engine()
    n = 300
    socks = [eng.connect() for _ in range(n)]
    msgs = [logon(sender=f"CP{i}", target="GW", begin=("FIX.4.2", "FIX.4.4", "FIXT.1.1")[i % 3])
            for i in range(n)]
    for s, m in zip(socks, msgs):
        s.sendall(m[: len(m) // 2])
    for s, m in zip(socks, msgs):
        s.sendall(m[len(m) // 2:])
    for i, s in enumerate(socks):
        how, out = read_until_closed(s)
        s.close()
        assert how == "eof", i
        check_logout(out, DEFAULT_REASON, {49: "GW", 56: f"CP{i}"})
    eng.wait_event(lambda l: len(eng.events("reject")) >= n)
    rc, _ = eng.stop()
    assert rc == 0
    stopped = eng.events("stopped")[-1]
    assert stopped["outcomes"]["logout_sent"] == n


def test_over_max_connections_closed_at_accept(engine):
    eng = engine("--max-connections", "2", "--log-level", "debug")
    idle = [eng.connect() for _ in range(2)]
    eng.wait_event(lambda l: len(eng.events("accepted")) >= 2)
    extra = []
    for _ in range(6):
        s = eng.connect()
        how, out = read_until_closed(s, timeout=5)
        assert out == b"" and how in ("eof", "reset")
        extra.append(s)
    # One WARN line per second at most, carrying the count: 6 closes, at most 2 lines within ~1 s.
    eng.wait_event(lambda l: sum(x["count"] for x in eng.events("over_capacity")) >= 6, timeout=3)
    warns = eng.events("over_capacity")
    assert 1 <= len(warns) <= 2 and all(w["level"] == "WARN" for w in warns)
    for s in idle + extra:
        s.close()
    # both slots free again: the two idle connections closed unanswered
    eng.wait_event(lambda l: len([e for e in eng.events("reject_unanswered") if e.get("outcome") == "empty"]) >= 2)
    how, out = reject_once(eng, logon())
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_exhaustion_backs_off_without_spinning(engine):
    limit = 24 if "asan" not in str(BIN) else 40

    def low_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    eng = engine("--max-connections", "1000", preexec_fn=low_fd_limit)
    n = limit + 20
    socks = [eng.connect() for _ in range(n)]  # the kernel completes them all; the engine cannot accept all
    eng.wait_event(lambda l: l.get("event") == "accept_backoff", timeout=5)
    c0 = cpu_seconds(eng.proc.pid)
    time.sleep(1.0)  # the window the CPU time is measured over
    assert cpu_seconds(eng.proc.pid) - c0 < 0.3, "busy loop while out of file descriptors"
    # Every connection is served in the end: answered ones close, freeing fds for the backlog.
    for i, s in enumerate(socks):
        s.sendall(logon(sender=f"CP{i}"))
    for i, s in enumerate(socks):
        how, out = read_until_closed(s, timeout=15)
        s.close()
        assert how == "eof", i
        check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: f"CP{i}"})


def test_linger_closes_when_the_peer_stays(engine):
    eng = engine("--linger", "300ms", "--log-level", "debug")
    s = eng.connect()
    s.sendall(logon())
    how, out = read_until_closed(s)  # our FIN follows the Logout at once
    assert how == "eof"
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})
    t0 = time.monotonic()
    line = eng.wait_event(lambda l: l.get("event") == "closed", timeout=5)
    assert "linger" in line["msg"]
    assert time.monotonic() - t0 < 2
    s.close()


# ---------------------------------------------------------------- shutdown


def test_sigterm_exits_zero_promptly(engine):
    eng = engine()
    rc, took = eng.stop()
    assert rc == 0 and took < 2
    assert eng.events("stopped")


def test_sigterm_finishes_in_flight_connections(engine):
    eng = engine()
    s = eng.connect()
    msg = logon()
    s.sendall(msg[:40])
    wait_read_by_peer(s)  # in flight: the engine holds a partial Logon
    eng.proc.send_signal(signal.SIGTERM)
    eng.wait_event(lambda l: l.get("event") == "draining")
    with pytest.raises(OSError):  # no longer accepting
        socket.create_connection(("127.0.0.1", eng.port), timeout=2).close()
    s.sendall(msg[40:])
    how, out = read_until_closed(s)
    s.close()
    assert how == "eof"
    check_logout(out, DEFAULT_REASON, {49: "FIXGW", 56: "BROKER_A"})
    assert eng.proc.wait(5) == 0


def test_sigint_drain_timeout_closes_stragglers(engine):
    eng = engine("--drain-timeout", "700ms")
    s = eng.connect()
    s.sendall(logon()[:10])
    wait_read_by_peer(s)
    t0 = time.monotonic()
    eng.proc.send_signal(signal.SIGINT)
    how, out = read_until_closed(s)
    s.close()
    assert out == b""
    assert eng.proc.wait(30) == 0
    assert 0.5 < time.monotonic() - t0 < 15  # the 700 ms drain timeout, bounded generously
    assert unanswered(eng, "shutdown")


# ---------------------------------------------------------------- usage


def test_usage_errors(engine):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing")

    def run(*args):
        return subprocess.run([str(BIN), "reject-engine", *args], capture_output=True, timeout=10)

    p = run("--help")
    assert p.returncode == 0 and b"usage:" in p.stdout
    assert run().returncode == 2
    for bad in (["--reason", ""], ["--reason", "x" * 201], ["--reason", "tab\there"], ["--reason", "caf\u00e9"],
                ["--logon-timeout", "soon"], ["--max-logon-bytes", "10"], ["--max-connections", "0"],
                ["--log-level", "loud"], ["--bogus", "1"], ["--reason"]):
        p = run("--listen", "127.0.0.1:1", *bad)
        assert p.returncode == 2, bad
    assert run("--listen", "localhost:9881").returncode == 2  # numeric only: never a resolver
    eng = engine()
    p = run("--listen", f"127.0.0.1:{eng.port}")
    assert p.returncode == 1
    assert b"start_failed" in p.stderr


# ---------------------------------------------------------------- a real FIX engine as the counterparty


def fix_initiator():
    peer = PEERS / "fix_initiator"
    if not peer.exists():
        missing_peer(f"{peer} not built (cmake -S tests/peers -B build-peers -G Ninja && "
                    "cmake --build build-peers)")
    return str(peer)


@pytest.mark.parametrize("begin", ["FIX.4.2", "FIX.4.4", "FIXT.1.1"])
def test_quickfix_initiator_receives_the_reason(engine, begin):
    peer = fix_initiator()
    reason = "No route for BROKER_Q; contact onboarding"
    eng = engine("--reason", reason)
    p = subprocess.run([peer, "--port", str(eng.port), "--begin-string", begin, "--sender-comp-id", "BROKER_Q",
                        "--target-comp-id", "FIXGW", "--sender-sub-id", "DESK", "--password", "SECRETPW",
                        "--timeout-ms", "8000"], capture_output=True, timeout=30)
    events = [json.loads(l) for l in p.stdout.splitlines() if l.startswith(b"{")]
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    logout = [e for e in events if e.get("event") == "logout"]
    assert logout and logout[0]["text"] == reason, events
    line = eng.wait_event(lambda l: l.get("event") == "reject")
    assert line["sender_comp_id"] == "BROKER_Q" and line["begin_string"] == begin
    eng.stop()
    assert b"SECRETPW" not in b"".join(eng.raw)


# ---------------------------------------------------------------- behind the gateway (standalone mode)


def test_behind_the_standalone_gateway(engine, tmp_path):
    """An unmatched Logon sent to the gateway comes back as the engine's Logout; garbage gets nothing."""
    eng = engine("--reason", "Unknown CompID")
    gw_port = free_port()
    (tmp_path / "route.yaml").write_text((ROOT / "crds" / "examples" / "equities-single-field.yaml").read_text())
    (tmp_path / "gw.yaml").write_text(
        "workers: 1\n"
        f"listeners: [{{name: fix-plain, address: '127.0.0.1:{gw_port}', tls: {{enabled: false}}}}]\n"
        f"rejectEngine: {{enabled: true, address: '127.0.0.1:{eng.port}'}}\n"
        "routes: [route.yaml]\n"
        f"endpoints: {{'trading/equities-engine-svc:9880': [{{address: '127.0.0.1:{free_port()}', ready: true}}]}}\n")
    gw = subprocess.Popen([str(BIN), "gateway", "--config", str(tmp_path / "gw.yaml")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def listening():
            assert gw.poll() is None, gw.stderr.read1(65536)
            try:
                socket.create_connection(("127.0.0.1", gw_port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, 30, what="the gateway's listener")
        s = socket.create_connection(("127.0.0.1", gw_port), timeout=10)
        s.sendall(logon(sender="UNKNOWN_CP", extra=[(50, "DESK")]))
        how, out = read_until_closed(s)
        s.close()
        assert how == "eof"
        check_logout(out, "Unknown CompID", {49: "FIXGW", 56: "UNKNOWN_CP", 57: "DESK"})
        s = socket.create_connection(("127.0.0.1", gw_port), timeout=10)
        send_ignoring_reset(s, b"GET / HTTP/1.1\r\n\r\n")
        how, out = read_until_closed(s)
        s.close()
        assert out == b""
        unanswered(eng, "invalid")
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait()
