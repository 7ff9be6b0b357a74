#!/usr/bin/env bash
# The README's run command: the gateway and the reject engine on the shipped standalone configuration
# (deploy/standalone/fixgw.yaml), in the foreground until Ctrl-C.
#   scripts/run.sh            run the gateway
#   scripts/run.sh --explain  instead: check the example FIXSessions and explain where sample Logons go
set -euo pipefail
cd "$(dirname "$0")/.."
FIXGW=./build/fixgw
CONF=deploy/standalone/fixgw.yaml

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

# A throwaway self-signed certificate for the TLS listener (not in git), made again when it would expire
# within 30 days (the gateway warns about those).
certs=deploy/standalone/certs
if ! openssl x509 -checkend 2592000 -noout -in "$certs/server.crt" >/dev/null 2>&1; then
	mkdir -p "$certs"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj /CN=localhost \
		-keyout "$certs/server.key" -out "$certs/server.crt" 2>/dev/null
	echo "run: made a self-signed certificate in $certs (365 days)"
fi

# The examples redact OnBehalfOfCompID115 and hide ComplianceID9001: the reject engine's logs follow suit.
$FIXGW reject-engine --listen 127.0.0.1:9881 --mask-tag 115 --hide-tag 9001 &
reject_pid=$!
trap 'kill "$reject_pid" 2>/dev/null || true' EXIT
echo "run: fixgw gateway --config $CONF  (plaintext 127.0.0.1:9877, TLS 127.0.0.1:9876, admin http://127.0.0.1:9090/routes)"
$FIXGW gateway --config "$CONF"
