#!/usr/bin/env bash
# The README's run command (for now): check the shipped FIXSession examples and explain where three
# counterparties' Logons would be routed.
set -euo pipefail
cd "$(dirname "$0")/.."
FIXGW=./build/fixgw

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

echo "== fixgw routes check crds/examples"
$FIXGW routes check crds/examples
for who in "FIX.4.4 49=BROKER_A 56=FIXGW 34=1 52=20261127-12:00:00 98=0 108=30 554=hunter2" \
	   "FIX.4.2 49=BANK_FI 56=FIXGW 50=RATES 128=FI_DESK 34=1 98=0 108=30" \
	   "FIXT.1.1 49=ALGO_CO 56=FIXGW 20001=VWAP 34=1 98=0 108=30 1137=9" \
	   "FIX.4.4 49=UNKNOWN_CP 56=FIXGW 34=1 98=0 108=30"; do
	# shellcheck disable=SC2086
	set -- $who
	echo
	echo "== Logon from $2 ($1)"
	logon "$@" | $FIXGW routes explain crds/examples
done
