#!/usr/bin/env bash
# `make demo`: the gateway between real FIX engines, on loopback, in a few seconds.
#
#   two QuickFIX acceptors   equities-engine, fixed-income-engine (they echo every application message)
#   fixgw reject-engine      answers unmatched Logons with a Logout: "No matching session configuration"
#   fixgw gateway            deploy/demo/fixgw.yaml and the FIXSessions of deploy/demo/fixsessions/
#
# then three QuickFIX initiators log on through the gateway, one after the other:
#
#   BROKER_A                      route on SenderCompID49          -> equities-engine
#   BANK_FI 50=RATES 128=FI_DESK  multi-field route (49, 50, 128)  -> fixed-income-engine
#   STRANGER                      no route                         -> the reject engine's Logout
#
# It prints the gateway's routing decisions (one line per Logon) and each initiator's outcome, stops every
# process it started (also on Ctrl-C or an error), and exits 0 only when all three outcomes are the expected
# ones (1 otherwise, 2 for bad usage).
#
#   scripts/demo.sh                 run the demo
#   scripts/demo.sh --stay          then keep the gateway and engines running until Ctrl-C (or SIGTERM), to
#                                   look around: curl the admin URL it prints, or log on with your own client
#   scripts/demo.sh --without NAME  leave FIXSession NAME (e.g. bank-fi-rates) out: its counterparty is then
#                                   rejected, and the demo reports the unexpected outcome and exits 1
#   DEMO_DIR=DIR scripts/demo.sh    keep configs and logs in DIR (default: a temporary directory, removed
#                                   after a successful run, kept and named after a failed one)
#
# Ports: every process listens on 127.0.0.1, on free ports (the acceptors pick their own; the copy of
# deploy/demo/fixgw.yaml gets free ports in place of the ones written there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIB_WHO=demo
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
FIXGW=${FIXGW_BIN:-$ROOT/build/fixgw}
PEERS=${FIXGW_PEERS_DIR:-$ROOT/build-peers}
REASON="No matching session configuration"
MESSAGES=3

without=""
stay=0
usage() { echo "usage: scripts/demo.sh [--stay] [--without FIXSESSION]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--stay)
		stay=1
		shift
		;;
	--without)
		[ $# -ge 2 ] || usage
		without=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		usage
		;;
	esac
done

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- build what is missing

if [ ! -x "$FIXGW" ]; then
	step "building build/fixgw"
	cmake --preset default >/dev/null
	cmake --build --preset default
fi
if [ ! -x "$PEERS/fix_acceptor" ] || [ ! -x "$PEERS/fix_initiator" ]; then
	step "building the QuickFIX test peers (tests/peers)"
	cmake -S tests/peers -B "$PEERS" -G Ninja >/dev/null
	cmake --build "$PEERS"
fi

# ---------------------------------------------------------------- processes and cleanup

if [ -n "${DEMO_DIR:-}" ]; then
	run=$DEMO_DIR
	mkdir -p "$run"
	keep_run=1
else
	run=$(mktemp -d "${TMPDIR:-/tmp}/fixgw-demo.XXXXXX")
	keep_run=0
fi
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# every process started here: the list, and the shell's own jobs (a signal can arrive between starting
	# one and adding it to the list)
	pids+=($(jobs -p))
	stop_pids "${pids[@]}"
	if [ "$rc" -ne 0 ] || [ "$keep_run" -eq 1 ]; then
		say "demo: configs and logs are in $run"
	else
		rm -rf "$run"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

json_port() { sed -n 's/.*"port":\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1; }

# ---------------------------------------------------------------- the engines: two QuickFIX acceptors

step "starting the engines (QuickFIX acceptors; they echo every application message)"
start_acceptor() { # NAME -> its port on stdout
	local name=$1
	"$PEERS/fix_acceptor" --port 0 --begin-string FIX.4.4 --sender-comp-id VENUE --name "$name" \
		>"$run/$name.events" 2>"$run/$name.stderr" &
	pids+=($!)
	wait_for "$run/$name.events" '"event":"listening"' "$!" "$name"
}
start_acceptor equities-engine
start_acceptor fixed-income-engine
eq_port=$(json_port "$run/equities-engine.events")
fi_port=$(json_port "$run/fixed-income-engine.events")
say "equities-engine       127.0.0.1:$eq_port   (CompID VENUE)"
say "fixed-income-engine   127.0.0.1:$fi_port   (CompID VENUE)"

# ---------------------------------------------------------------- the reject engine

step "starting the reject engine"
started=0
for _ in 1 2 3; do # a free port can be taken before it is bound: try another
	reject_port=$(free_port)
	"$FIXGW" reject-engine --listen "127.0.0.1:$reject_port" --reason "$REASON" 2>"$run/reject-engine.log" &
	pids+=($!)
	if wait_for "$run/reject-engine.log" '"event":"listening"' "$!" "the reject engine" 2>/dev/null; then
		started=1
		break
	fi
done
[ "$started" -eq 1 ] || { say "demo: the reject engine did not start" >&2; cat "$run/reject-engine.log" >&2; exit 1; }
say "reject engine         127.0.0.1:$reject_port   (reason: \"$REASON\")"

# ---------------------------------------------------------------- the gateway

step "starting the gateway"
rm -rf "$run/config"
mkdir -p "$run/config"
cp -R deploy/demo/. "$run/config/"
if [ -n "$without" ]; then
	[ -f "$run/config/fixsessions/$without.yaml" ] || { say "demo: no FIXSession $without in deploy/demo" >&2; exit 2; }
	rm "$run/config/fixsessions/$without.yaml"
	say "(without FIXSession $without)"
fi
"$FIXGW" routes check "$run/config/fixsessions"
started=0
for _ in 1 2 3; do
	gw_port=$(free_port)
	admin_port=$(free_port)
	sed -e "s/127\.0\.0\.1:29877\b/127.0.0.1:$gw_port/" -e "s/127\.0\.0\.1:29090\b/127.0.0.1:$admin_port/" \
		-e "s/127\.0\.0\.1:29881\b/127.0.0.1:$reject_port/" -e "s/127\.0\.0\.1:29880\b/127.0.0.1:$eq_port/" \
		-e "s/127\.0\.0\.1:29882\b/127.0.0.1:$fi_port/" deploy/demo/fixgw.yaml >"$run/config/fixgw.yaml"
	"$FIXGW" gateway --config "$run/config/fixgw.yaml" 2>"$run/gateway.log" &
	pids+=($!)
	if wait_for "$run/gateway.log" '"event":"started"' "$!" "the gateway" 2>/dev/null; then
		started=1
		break
	fi
done
[ "$started" -eq 1 ] || { say "demo: the gateway did not start" >&2; cat "$run/gateway.log" >&2; exit 1; }
say "gateway               127.0.0.1:$gw_port   (admin: http://127.0.0.1:$admin_port/routes)"

# ---------------------------------------------------------------- the counterparties

step "three counterparties log on through the gateway (QuickFIX initiators, $MESSAGES messages each)"
initiator() { # NAME ARGS... : one connection attempt; events in $run/NAME.events, exit code in NAME.rc
	local name=$1 rc=0
	shift
	"$PEERS/fix_initiator" --port "$gw_port" --begin-string FIX.4.4 --target-comp-id VENUE \
		--messages "$MESSAGES" --interval-ms 20 --timeout-ms 8000 "$@" \
		>"$run/$name.events" 2>"$run/$name.stderr" || rc=$?
	echo "$rc" >"$run/$name.rc"
	say "$name: fix_initiator exited $rc"
}
initiator BROKER_A --sender-comp-id BROKER_A
initiator BANK_FI --sender-comp-id BANK_FI --sender-sub-id RATES --deliver-to-comp-id FI_DESK
initiator STRANGER --sender-comp-id STRANGER

# ---------------------------------------------------------------- what happened

# Outcomes are judged from every side: the initiator's own events and exit code, the engine's logon event,
# the reject engine's log, and the gateway's routing decisions (which must be there, one per Logon).
outcome=0
python3 - "$run" "$REASON" "$MESSAGES" "$reject_port" <<'PY' || outcome=$?
import json
import pathlib
import re
import sys
import time

run, reason, n, reject_port = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]


def events(path):
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def decisions():
    return [e for e in events(run / "gateway.log") if e.get("event") == "routing_decision"]


deadline = time.monotonic() + 30  # the gateway logs each decision as it routes: usually there already
while len(decisions()) < 3 and time.monotonic() < deadline:
    time.sleep(0.05)

print("\n== routing decisions (from the gateway's log)")
rows = [("COUNTERPARTY", "DECISION", "FIXSESSION", "TARGET")]
for d in decisions():
    f = d.get("fields") or {}
    if f:
        who = f.get("SenderCompID49", "?")
        extra = [f"{k[-3:] if k.endswith('128') else k[-2:]}={v}" for k, v in f.items()
                 if k in ("SenderSubID50", "DeliverToCompID128")]
    else:  # REJECT_ENGINE / NO_MATCH lines carry the (redacted) Logon bytes instead
        m = re.search(r"(?:^|\|)49=([^|]*)", d.get("bytes", ""))
        who = m.group(1) if m else "?"
        extra = [f"{t}={v}" for t, v in re.findall(r"(?:^|\|)(50|128)=([^|]*)", d.get("bytes", ""))]
    who = " ".join([who] + extra)
    if d.get("decision") == "REJECT_ENGINE":
        rows.append((who, "REJECT_ENGINE", "(no FIXSession)", f"reject engine 127.0.0.1:{reject_port}"))
    else:
        rows.append((who, d.get("decision", "?"), d.get("fixsession") or "-", d.get("target") or "-"))
w = [max(len(r[i]) for r in rows) for i in range(3)]
for i, r in enumerate(rows):
    print(f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {'  ' if i == 0 else '->'} {r[3]}")

print("\n== outcomes")
ok_all = True


def routed(name, engine, fixsession, logon_match):
    rc = int((run / f"{name}.rc").read_text())
    ev = events(run / f"{name}.events")
    echoes = [e for e in ev if e.get("event") == "echo"]
    from_engine = [e for e in echoes if e.get("text", "").startswith(f"echo:{engine}:")]
    acc = [e for e in events(run / f"{engine}.events") if e.get("event") == "logon" and e.get("sender") == name]
    dec = [d for d in decisions() if d.get("fixsession") == fixsession]
    problems = []
    if rc != 0:
        last = ev[-1] if ev else {}
        why = last.get("text") or last.get("reason") or ""
        problems.append(f"fix_initiator exited {rc} ({last.get('event')}: {why})")
    if len(from_engine) != n or len(echoes) != n:
        problems.append(f"{len(from_engine)}/{n} messages echoed by {engine}")
    if not acc:
        problems.append(f"{engine} never saw its Logon")
    elif any(acc[0].get(k) != v for k, v in logon_match.items()):
        problems.append(f"{engine} saw {', '.join(f'{k}={acc[0].get(k)!r}' for k in logon_match)}")
    if not dec:
        problems.append(f"no routing decision for {fixsession}")
    if problems:
        return False, "; ".join(problems)
    return True, f"logged on to {engine} via {fixsession}; {n}/{n} messages echoed by {engine}; logged out"


def rejected(name):
    rc = int((run / f"{name}.rc").read_text())
    ev = events(run / f"{name}.events")
    logout = [e for e in ev if e.get("event") == "logout"]
    rej = [e for e in events(run / "reject-engine.log") if e.get("event") == "reject"
           and e.get("sender_comp_id") == name]
    problems = []
    if rc != 3 or not logout:
        last = ev[-1] if ev else {}
        problems.append(f"expected the reject engine's Logout (exit 3), got exit {rc} ({last.get('event')})")
    elif logout[0].get("text") != reason:
        problems.append(f"Logout text {logout[0].get('text')!r}, expected {reason!r}")
    if not rej:
        problems.append("the reject engine did not log a reject for it")
    if any(e.get("event") == "logon" for e in ev):
        problems.append("it was logged on somewhere")
    if problems:
        return False, "; ".join(problems)
    return True, f'Logout from the reject engine: "{logout[0]["text"]}"'


for name, (ok, what) in (
        ("BROKER_A", routed("BROKER_A", "equities-engine", "trading/broker-a-equities", {})),
        ("BANK_FI", routed("BANK_FI", "fixed-income-engine", "trading/bank-fi-rates",
                           {"sender_sub_id": "RATES", "deliver_to_comp_id": "FI_DESK"})),
        ("STRANGER", rejected("STRANGER"))):
    ok_all &= ok
    print(f"  {name:<9} {'OK' if ok else 'UNEXPECTED':<10}  {what}")

print()
print("demo: all three counterparties ended as expected" if ok_all else
      "demo: FAILED: at least one counterparty did not end as expected")
sys.exit(0 if ok_all else 1)
PY

if [ "$stay" -eq 1 ]; then
	trap 'exit $outcome' INT TERM # stopping is the normal end here: exit with the outcome
	say "demo: still running: gateway 127.0.0.1:$gw_port, admin http://127.0.0.1:$admin_port/routes;" \
		"Ctrl-C stops everything"
	while :; do # in the foreground, so that no extra process can outlive the demo
		sleep 0.2
	done
fi
exit "$outcome"
