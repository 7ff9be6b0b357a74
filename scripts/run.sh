#!/usr/bin/env bash
# The README's run command (`make run`): the gateway in front of a real FIX engine, on loopback, in the
# foreground until Ctrl-C.
#
#   equities-engine      a QuickFIX acceptor (tests/peers) on 127.0.0.1:19880, CompID FIXGW: it answers a Logon
#                        with its own and echoes every application message
#   fixgw reject-engine  127.0.0.1:9881: answers a Logon that matches no FIXSession with a Logout
#   fixgw gateway        deploy/standalone/fixgw.yaml: plaintext 127.0.0.1:9877, TLS 127.0.0.1:9876, admin
#                        http://127.0.0.1:9090/routes; FIXSessions deploy/standalone/fixsessions/ send BROKER_A
#                        and BROKER_B_* to equities-engine, anyone else to the reject engine
#
# Once all three are ready it prints the command to try next (a Logon through the gateway, and the answer).
# Ctrl-C or SIGTERM stops every process it started; so does any of them exiting (then with status 1).
#
#   scripts/run.sh                     run
#   scripts/run.sh --logon COMPID [--port N]
#                                      log on as COMPID (FIX.4.4, TargetCompID FIXGW) through the gateway's
#                                      plaintext listener (default port 9877) and print what comes back:
#                                      exit 0 logged on (one message echoed, then logged out), 3 a Logout,
#                                      1 no answer
#   scripts/run.sh --explain           check the example FIXSessions of crds/examples and explain where
#                                      sample Logons go (needs only build/fixgw)
#   RUN_PORTS=free scripts/run.sh      every process on a free port instead (configuration copied to a
#                                      scratch directory): for tests, or next to another `make run`
set -euo pipefail
cd "$(dirname "$0")/.."
FIXGW=${FIXGW_BIN:-./build/fixgw} # FIXGW_BIN: another build (the tests run the asan-ubsan one too)
PEERS=${FIXGW_PEERS_DIR:-build-peers}
CONF_DIR=deploy/standalone
LIB_WHO=run
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# ---------------------------------------------------------------- --logon: the command run.sh tells you to try

if [ "${1:-}" = "--logon" ]; then
	[ $# -eq 2 ] || { [ $# -eq 4 ] && [ "$3" = "--port" ]; } || {
		echo "usage: scripts/run.sh --logon COMPID [--port N]" >&2
		exit 2
	}
	exec python3 - "$2" "${4:-9877}" <<'PY'
import socket
import sys
import time

comp, port = sys.argv[1], int(sys.argv[2])
SOH = "\x01"
seq = 0


def message(mtype, *fields):
    global seq
    seq += 1
    now = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    body = f"35={mtype}{SOH}49={comp}{SOH}56=FIXGW{SOH}34={seq}{SOH}52={now}{SOH}"
    body += "".join(f + SOH for f in fields)
    msg = f"8=FIX.4.4{SOH}9={len(body.encode())}{SOH}{body}"
    return (msg + "10=%03d%s" % (sum(msg.encode()) % 256, SOH)).encode()


def show(arrow, raw):
    print(arrow, raw.decode(errors="replace").replace(SOH, "|"), flush=True)


def field(raw, tag):
    prefix = f"{tag}="
    for f in raw.decode(errors="replace").split(SOH):
        if f.startswith(prefix):
            return f[len(prefix):]
    return None


buf = b""


def receive(sock):
    """The next complete FIX message, or None when the connection closes or 10 s pass without one."""
    global buf
    deadline = time.monotonic() + 10
    while True:
        end = buf.find(SOH.encode() + b"10=")
        if end >= 0:
            stop = buf.find(SOH.encode(), end + 1)
            if stop >= 0:
                msg, buf = buf[:stop + 1], buf[stop + 1:]
                return msg
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk


def send(sock, raw):
    show("->", raw)
    sock.sendall(raw)


def fail(why):
    print(f"run: {why}", flush=True)
    sys.exit(1)


try:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
except OSError as e:
    fail(f"cannot connect to the gateway at 127.0.0.1:{port} ({e.strerror}): is `make run` running?")
send(sock, message("A", "98=0", "108=30"))
answer = receive(sock)
if answer is None:
    fail("no answer: the connection closed (or 10 s passed) before any FIX message came back")
show("<-", answer)
if field(answer, 35) == "5":
    print(f'run: {comp} was not logged on: Logout "{field(answer, 58)}"', flush=True)
    sys.exit(3)
if field(answer, 35) != "A":
    fail(f"unexpected answer (35={field(answer, 35)})")
send(sock, message("B", "148=hello from " + comp, "33=1", "58=hello"))
echo = receive(sock)
while echo is not None and field(echo, 35) == "0":  # a heartbeat may come first
    show("<-", echo)
    echo = receive(sock)
if echo is None:
    fail("logged on, but the News was not echoed")
show("<-", echo)
send(sock, message("5"))
bye = receive(sock)
if bye is not None:
    show("<-", bye)
engine = (field(echo, 58) or "").split(":")[1:2] or ["?"]
print(f"run: {comp} logged on to {engine[0]} through the gateway; it echoed our News; logged out", flush=True)
PY
fi

# ---------------------------------------------------------------- --explain

logon() { # logon BEGINSTRING "tag=value" ... -> a Logon with correct BodyLength and CheckSum on stdout
	python3 - "$@" <<'PY'
import sys
begin, fields = sys.argv[1], sys.argv[2:]
body = "35=A\x01" + "".join(f + "\x01" for f in fields)
head = f"8={begin}\x019={len(body.encode())}\x01"
msg = head + body
sys.stdout.buffer.write((msg + "10=%03d\x01" % (sum(msg.encode()) % 256)).encode())
PY
}

if [ "${1:-}" = "--explain" ]; then
	echo "== fixgw routes check crds/examples"
	$FIXGW routes check crds/examples
	for who in "FIX.4.4 49=BROKER_A 56=FIXGW 34=1 52=20261127-12:00:00 98=0 108=30 554=hunter2" \
		   "FIX.4.2 49=BANK_C 56=FIXGW 50=RATES_TRADER_01 128=FI_DESK 34=1 98=0 108=30" \
		   "FIXT.1.1 49=BROKER_A 56=FIXGW 20001=VWAP 34=1 98=0 108=30 1137=9" \
		   "FIX.4.4 49=UNKNOWN_CP 56=FIXGW 34=1 98=0 108=30"; do
		# shellcheck disable=SC2086
		set -- $who
		echo
		echo "== Logon from $2 ($1)"
		logon "$@" | $FIXGW routes explain crds/examples --listener fix-tls
	done
	exit 0
fi
if [ $# -gt 0 ]; then
	sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi

# ---------------------------------------------------------------- build what is missing

if [ ! -x "$FIXGW" ]; then
	echo "run: building build/fixgw"
	cmake --preset default >/dev/null
	cmake --build --preset default
fi
if [ ! -x "$PEERS/fix_acceptor" ]; then
	echo "run: building the QuickFIX engine (tests/peers)"
	cmake -S tests/peers -B "$PEERS" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$PEERS"
fi

# A throwaway self-signed certificate for the TLS listener (not in git), made again when it would expire
# within 30 days (the gateway warns about those).
certs=$CONF_DIR/certs
if ! openssl x509 -checkend 2592000 -noout -in "$certs/server.crt" >/dev/null 2>&1; then
	mkdir -p "$certs"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj /CN=localhost \
		-keyout "$certs/server.key" -out "$certs/server.crt" 2>/dev/null
	echo "run: made a self-signed certificate in $certs (365 days)"
fi

# ---------------------------------------------------------------- processes and cleanup

run=$(mktemp -d "${TMPDIR:-/tmp}/fixgw-run.XXXXXX")
pids=()
declare -A names # pid -> what it is, for messages
gateway_pid=""

# stop_all: SIGTERM to everything (twice to the gateway: the second closes open sessions at once instead of
# letting them drain), up to 10 s for all to exit, then SIGKILL.
stop_all() {
	pids+=($(jobs -p))
	[ -z "$gateway_pid" ] || kill -TERM "$gateway_pid" 2>/dev/null || true
	stop_pids "${pids[@]}"
	rm -rf "$run"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "run: stopping"; exit 0' INT TERM # Ctrl-C is how `make run` ends: a normal end

# ---------------------------------------------------------------- ports and configuration

plain=9877 tls=9876 admin=9090 reject=9881 engine=19880
conf=$CONF_DIR/fixgw.yaml
if [ "${RUN_PORTS:-}" = free ]; then
	plain=$(free_port) tls=$(free_port) admin=$(free_port) reject=$(free_port) engine=$(free_port)
	mkdir -p "$run/config"
	cp -R "$CONF_DIR/." "$run/config/"
	sed -e "s/127\.0\.0\.1:9877\b/127.0.0.1:$plain/" -e "s/127\.0\.0\.1:9876\b/127.0.0.1:$tls/" \
		-e "s/127\.0\.0\.1:9090\b/127.0.0.1:$admin/" -e "s/127\.0\.0\.1:9881\b/127.0.0.1:$reject/" \
		-e "s/127\.0\.0\.1:19880\b/127.0.0.1:$engine/" "$CONF_DIR/fixgw.yaml" >"$run/config/fixgw.yaml"
	conf=$run/config/fixgw.yaml
elif [ -n "${RUN_PORTS:-}" ]; then
	echo "run: RUN_PORTS is 'free' or unset" >&2
	exit 2
fi

# ---------------------------------------------------------------- start the engine, the reject engine, the gateway

# Each one's output goes to the terminal and to a file the readiness checks read.
"$PEERS/fix_acceptor" --port "$engine" --begin-string FIX.4.4 --sender-comp-id FIXGW --name equities-engine \
	> >(tee "$run/engine.events") 2>&1 &
pids+=($!)
names[$!]="the QuickFIX engine"
wait_for "$run/engine.events" '"event":"listening"' "$!" "the QuickFIX engine (127.0.0.1:$engine)" || exit 1

# The reject engine's logs redact like the FIXSessions of crds/examples (OnBehalfOfCompID115 masked,
# ComplianceID9001 hidden), for Logons copied from there.
$FIXGW reject-engine --listen "127.0.0.1:$reject" --mask-tag 115 --hide-tag 9001 2> >(tee "$run/reject.log" >&2) &
pids+=($!)
names[$!]="the reject engine"
wait_for "$run/reject.log" '"event":"listening"' "$!" "the reject engine (127.0.0.1:$reject)" || exit 1

echo "run: fixgw gateway --config $conf"
$FIXGW gateway --config "$conf" 2> >(tee "$run/gateway.log" >&2) &
gateway_pid=$!
pids+=($!)
names[$!]="the gateway"
wait_for "$run/gateway.log" '"event":"started"' "$!" "the gateway" || exit 1

try="scripts/run.sh --logon BROKER_A"
[ "$plain" -eq 9877 ] || try+=" --port $plain"
cat <<EOF

run: ready.
  engine         equities-engine (QuickFIX)  127.0.0.1:$engine   BROKER_A, BROKER_B_* are routed here
  reject engine  127.0.0.1:$reject           any other SenderCompID gets its Logout
  gateway        FIX 127.0.0.1:$plain, TLS 127.0.0.1:$tls, admin http://127.0.0.1:$admin/routes

Try, in another terminal:
  $try
(another CompID in place of BROKER_A gets the reject engine's Logout). Ctrl-C stops everything.

EOF

# In the foreground until Ctrl-C, or until one of the three exits on its own (an error: stop the rest). Their
# state is polled: `wait -n PID...` hangs when a PID was already reaped before it is called.
while :; do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run: ${names[$pid]} exited on its own; stopping the others" >&2
			exit 1
		fi
	done
	sleep 0.2
done
