"""`scripts/demo.sh` (make demo) end to end: it runs two QuickFIX engines, the reject engine and the gateway,
logs three counterparties on, prints one routing decision and one outcome per counterparty, exits 0 only when
all three are as expected, and leaves no process behind."""
import os
import re
import json
import signal
import subprocess
import urllib.request

import pytest

from conftest import ROOT
from gwharness import peer_binary, wait_until

DEMO = ROOT / "scripts" / "demo.sh"

DECISIONS = [
    r"^\s*BROKER_A\s+ROUTE\s+trading/broker-a-equities\s+->\s+trading/equities-engine-svc:9880$",
    r"^\s*BANK_FI 50=RATES 128=FI_DESK\s+ROUTE\s+trading/bank-fi-rates\s+->\s+"
    r"trading/fixed-income-engine-svc:9880$",
    r"^\s*STRANGER\s+REJECT_ENGINE\s+\(no FIXSession\)\s+->\s+reject engine 127\.0\.0\.1:\d+$",
]
OUTCOMES = [
    r"^\s*BROKER_A\s+OK\s+logged on to equities-engine via trading/broker-a-equities; 3/3 messages echoed",
    r"^\s*BANK_FI\s+OK\s+logged on to fixed-income-engine via trading/bank-fi-rates; 3/3 messages echoed",
    r'^\s*STRANGER\s+OK\s+Logout from the reject engine: "No matching session configuration"$',
]


def session_members(sid):
    """PIDs of live processes in session sid (everything demo.sh started inherits its session)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":     # field 6 of stat: session id
            out.append(int(d))
    return out


def run_demo(tmp_path, *args, timeout=90):
    env = dict(os.environ, DEMO_DIR=str(tmp_path / "run"))
    p = subprocess.Popen([str(DEMO), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = out.decode(errors="replace")
    wait_until(lambda: not session_members(p.pid), 5, what="every demo process gone: " + text[-500:])
    return p.returncode, text


@pytest.fixture(autouse=True)
def _built():
    peer_binary("fix_acceptor")
    peer_binary("fix_initiator")


def test_demo_runs_and_routes_three_counterparties(tmp_path):
    rc, out = run_demo(tmp_path)
    assert rc == 0, out
    for pat in DECISIONS + OUTCOMES:
        assert re.search(pat, out, re.M), f"missing line /{pat}/ in:\n{out}"
    assert "demo: all three counterparties ended as expected" in out
    # exactly three routing decisions, one per counterparty
    table = out.split("== routing decisions", 1)[1].split("== outcomes", 1)[0]
    assert len([l for l in table.splitlines() if "->" in l]) == 3, out
    log = (tmp_path / "run" / "gateway.log").read_text()
    assert log.count('"event":"routing_decision"') == 3


def test_demo_fails_when_an_outcome_is_wrong(tmp_path):
    """Without the multi-field FIXSession, BANK_FI gets the reject engine's Logout: the demo must say so and
    exit non-zero (its checks are not a formality)."""
    rc, out = run_demo(tmp_path, "--without", "bank-fi-rates")
    assert rc == 1, out
    assert re.search(r"^\s*BANK_FI\s+UNEXPECTED\s+fix_initiator exited 3", out, re.M), out
    assert re.search(OUTCOMES[0], out, re.M) and re.search(OUTCOMES[2], out, re.M), out
    assert "demo: FAILED" in out


def start_demo(tmp_path, *args):
    env = dict(os.environ, DEMO_DIR=str(tmp_path / "run"))
    return subprocess.Popen([str(DEMO), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def stop_demo(p, sig):
    try:
        p.send_signal(sig)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    wait_until(lambda: not session_members(p.pid), 5, what="every demo process gone")
    return p.returncode, out.decode(errors="replace")


def test_demo_stay_then_ctrl_c_stops_everything(tmp_path):
    p = start_demo(tmp_path, "--stay")
    try:
        lines = []
        for raw in p.stdout:                               # until it says it stays
            lines.append(raw.decode(errors="replace"))
            if lines[-1].startswith("demo: still running"):
                break
        text = "".join(lines)
        assert "demo: all three counterparties ended as expected" in text, text
        # while it stays, the gateway answers on the admin URL it printed
        url = re.search(r"admin (http://127\.0\.0\.1:\d+/routes)", text).group(1)
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert sorted(x["name"] for x in doc["routes"]) == ["trading/bank-fi-rates", "trading/broker-a-equities"]
        assert doc["counters"]["reject_engine_connections"] == 1
        assert len(session_members(p.pid)) >= 5   # demo.sh, two acceptors, reject engine, gateway
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    rc, rest = stop_demo(p, signal.SIGINT)
    assert rc == 0, text + rest                             # Ctrl-C is the normal end of --stay


def test_demo_interrupted_while_starting_cleans_up(tmp_path):
    p = start_demo(tmp_path)
    events = tmp_path / "run" / "equities-engine.events"
    wait_until(lambda: (events.exists() and '"listening"' in events.read_text()) or p.poll() is not None, 30,
               interval=0.005, what="the demo's first engine")
    rc, out = stop_demo(p, signal.SIGTERM)
    assert rc == 143, out                                   # stopped half-way, not a success
    assert "demo: configs and logs are in" in out
