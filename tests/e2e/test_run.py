"""`scripts/run.sh` (make run) end to end: it starts a QuickFIX engine, the reject engine and the gateway on
the standalone configuration, prints the command to try next once all three are ready, and stays in the
foreground until Ctrl-C. The printed command is run exactly as printed: BROKER_A must be logged on by the
engine through the gateway, an unknown CompID must get the reject engine's Logout. Every run uses free ports
(RUN_PORTS=free), so it never collides with a `make run` on the same machine."""
import os
import re
import shlex
import signal
import subprocess

import pytest

from conftest import ROOT
from gwharness import peer_binary, session_members

RUN = ROOT / "scripts" / "run.sh"


@pytest.fixture(autouse=True)
def _built():
    peer_binary("fix_acceptor")


def start(script):
    run = script(RUN, env={"RUN_PORTS": "free"})
    run.wait_line(r"^Try, in another terminal:$", timeout=240)
    command = run.wait_line(r"^  (scripts/run\.sh --logon .*)$").group(1)
    return run, command


def try_command(command):
    p = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def test_make_run_prints_a_command_that_logs_on_through_the_gateway(script):
    run, command = start(script)
    assert re.fullmatch(r"scripts/run\.sh --logon BROKER_A --port \d+", command), command
    assert len(session_members(run.proc.pid)) >= 4  # run.sh, the engine, the reject engine, the gateway

    # as printed: the engine answers the Logon with its own, echoes a News, and logs out
    rc, out = try_command(command)
    assert rc == 0, out
    assert re.search(r"^<- 8=FIX\.4\.4\|9=\d+\|35=A\|.*\|49=FIXGW\|.*\|56=BROKER_A\|", out, re.M), out
    assert re.search(r"^<- .*\|35=B\|.*\|58=echo:equities-engine:hello\|", out, re.M), out
    assert "run: BROKER_A logged on to equities-engine through the gateway" in out

    # the same command with a CompID no FIXSession knows: the reject engine's Logout
    rc, out = try_command(command.replace("BROKER_A", "STRANGER"))
    assert rc == 3, out
    assert re.search(r"^<- 8=FIX\.4\.4\|.*\|35=5\|.*\|56=STRANGER\|.*\|58=No matching session configuration\|",
                     out, re.M), out
    assert not re.search(r"^<- .*\|35=A\|", out, re.M), out  # no Logon came back

    # the gateway's routing decisions, in run.sh's output
    run.wait_line(r'"event":"routing_decision".*"decision":"ROUTE".*"fixsession":"trading/broker-a-equities"')
    run.wait_line(r'"event":"routing_decision".*"decision":"REJECT_ENGINE"')
    # and the engine's own account of the session
    run.wait_line(r'^\{"event":"logon","acceptor":"equities-engine","sender":"BROKER_A"')

    run.signal(signal.SIGINT, group=True)  # Ctrl-C, as a terminal sends it to the whole process group
    rc, out = run.finish(timeout=120)
    assert rc == 0, out
    assert "run: stopping" in out


def test_make_run_sigterm_to_the_script_alone_stops_everything(script):
    run, _ = start(script)
    run.signal(signal.SIGTERM)  # its processes get nothing but what run.sh sends them
    rc, out = run.finish(timeout=120)
    assert rc == 0, out


def test_make_run_stops_everything_when_a_process_dies(script):
    run, _ = start(script)
    engine = [pid for pid in session_members(run.proc.pid)
              if b"fix_acceptor" in open(f"/proc/{pid}/cmdline", "rb").read()]
    assert len(engine) == 1
    os.kill(engine[0], signal.SIGKILL)
    rc, out = run.finish(timeout=120)
    assert rc == 1, out
    assert "run: the QuickFIX engine exited on its own; stopping the others" in out


def test_logon_without_a_gateway_says_so():
    rc, out = try_command("scripts/run.sh --logon BROKER_A --port 1")
    assert rc == 1, out
    assert "cannot connect to the gateway at 127.0.0.1:1" in out
