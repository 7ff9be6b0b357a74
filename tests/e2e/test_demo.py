"""`scripts/demo.sh` (make demo) end to end: it runs two QuickFIX engines, the reject engine and the gateway,
logs three counterparties on, prints one routing decision and one outcome per counterparty, exits 0 only when
all three are as expected, and leaves no process behind."""
import json
import re
import signal
import urllib.request

import pytest

from conftest import ROOT
from gwharness import peer_binary, session_members, wait_until

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


def run_demo(script, tmp_path, *args):
    return script(DEMO, *args, env={"DEMO_DIR": str(tmp_path / "run")}).finish(timeout=240)


@pytest.fixture(autouse=True)
def _built():
    peer_binary("fix_acceptor")
    peer_binary("fix_initiator")


def test_demo_runs_and_routes_three_counterparties(script, tmp_path):
    rc, out = run_demo(script, tmp_path)
    assert rc == 0, out
    for pat in DECISIONS + OUTCOMES:
        assert re.search(pat, out, re.M), f"missing line /{pat}/ in:\n{out}"
    assert "demo: all three counterparties ended as expected" in out
    # exactly three routing decisions, one per counterparty
    table = out.split("== routing decisions", 1)[1].split("== outcomes", 1)[0]
    assert len([l for l in table.splitlines() if "->" in l]) == 3, out
    log = (tmp_path / "run" / "gateway.log").read_text()
    assert log.count('"event":"routing_decision"') == 3


def test_demo_fails_when_an_outcome_is_wrong(script, tmp_path):
    """Without the multi-field FIXSession, BANK_FI gets the reject engine's Logout: the demo must say so and
    exit non-zero (its checks are not a formality)."""
    rc, out = run_demo(script, tmp_path, "--without", "bank-fi-rates")
    assert rc == 1, out
    assert re.search(r"^\s*BANK_FI\s+UNEXPECTED\s+fix_initiator exited 3", out, re.M), out
    assert re.search(OUTCOMES[0], out, re.M) and re.search(OUTCOMES[2], out, re.M), out
    assert "demo: FAILED" in out


def test_demo_stay_then_ctrl_c_stops_everything(script, tmp_path):
    demo = script(DEMO, "--stay", env={"DEMO_DIR": str(tmp_path / "run")})
    demo.wait_line(r"^demo: still running", timeout=240)       # it has checked all three outcomes
    text = demo.text()
    assert "demo: all three counterparties ended as expected" in text, text
    # while it stays, the gateway answers on the admin URL it printed
    url = re.search(r"admin (http://127\.0\.0\.1:\d+/routes)", text).group(1)
    with urllib.request.urlopen(url, timeout=30) as r:
        doc = json.loads(r.read())
    assert sorted(x["name"] for x in doc["routes"]) == ["trading/bank-fi-rates", "trading/broker-a-equities"]
    assert doc["counters"]["reject_engine_connections"] == 1
    assert len(session_members(demo.proc.pid)) >= 5         # demo.sh, two acceptors, reject engine, gateway
    demo.signal(signal.SIGINT, group=True)                  # Ctrl-C, as a terminal sends it
    rc, out = demo.finish(timeout=120)
    assert rc == 0, out                                     # Ctrl-C is the normal end of --stay


def test_demo_stay_then_sigterm_to_the_script_alone_stops_everything(script, tmp_path):
    demo = script(DEMO, "--stay", env={"DEMO_DIR": str(tmp_path / "run")})
    demo.wait_line(r"^demo: still running", timeout=240)
    demo.signal(signal.SIGTERM)                             # its processes get nothing but what demo.sh sends
    rc, out = demo.finish(timeout=120)
    assert rc == 0, out


def test_demo_interrupted_while_starting_cleans_up(script, tmp_path):
    demo = script(DEMO, env={"DEMO_DIR": str(tmp_path / "run")})
    events = tmp_path / "run" / "equities-engine.events"
    wait_until(lambda: (events.exists() and '"listening"' in events.read_text()) or demo.proc.poll() is not None,
               120, interval=0.005, what="the demo's first engine")
    demo.signal(signal.SIGTERM)
    rc, out = demo.finish(timeout=120)
    assert rc == 143, out                                   # stopped half-way, not a success
    assert "demo: configs and logs are in" in out
