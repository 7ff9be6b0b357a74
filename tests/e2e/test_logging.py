"""The log sink end to end: a log reader that stalls must never stall the data plane, and what could not be
written is counted and reported once writing resumes."""
import subprocess

from fixmsg import logon
from gwharness import Engine, Gateway, fixsession, recv_exactly, wait_until


def healthy(gw):
    try:
        return gw.admin("/healthz") is not None
    except OSError:
        return False


def test_unread_log_pipe_never_stalls_relaying(tmp_path):
    """Regression: with the log pipe full (nobody reads it), both workers used to block in pipe_write
    after about 77 Logons, and no session relayed any more."""
    eng = Engine()
    gw = Gateway(tmp_path, [fixsession("broker-a", {"SenderCompID49": "BROKER_A"}, service="svc-a")],
                 {"trading/svc-a:9880": [eng.port]}, workers=2)
    # stderr (the log) is a pipe that nobody reads until the end; nothing else drains it.
    proc = subprocess.Popen([gw.binary, "gateway", "--config", str(gw.dir / "gateway.yaml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    gw.proc = proc
    try:
        wait_until(lambda: healthy(gw), 15, what="admin endpoint")
        msg = logon(sender="BROKER_A")
        # Each Logon writes two INFO lines of about 450 bytes: 1,500 Logons are ~1.3 MB, more than the
        # pipe (64 KiB) and both workers' buffers (256 KiB each) can hold.
        for i in range(1500):
            with gw.connect(timeout=5) as c:
                c.sendall(msg)
                assert recv_exactly(c, len(msg), timeout=5) == msg, f"Logon {i} was not relayed"
        # Still serving after the flood: a session relays messages both ways.
        with gw.connect(timeout=5) as c:
            c.sendall(msg)
            assert recv_exactly(c, len(msg), timeout=5) == msg
            hb = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01"
            c.sendall(hb)
            assert recv_exactly(c, len(hb), timeout=5) == hb
        # Start reading: the workers write again and say how much they dropped.
        gw.attach(proc)
        recs = gw.wait_log("log_lines_dropped", timeout=15)
        assert recs[0]["level"] == "WARN" and recs[0]["dropped"] > 0
        assert recs[0]["dropped_total"] >= recs[0]["dropped"]
    finally:
        if gw.log is None:
            gw.attach(proc)
        gw.stop()
        eng.stop()
