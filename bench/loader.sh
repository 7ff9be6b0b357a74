#!/usr/bin/env bash
# bench/loader.sh [build-dir] [N] - `fixgw routes check` on N FIXSessions (default 100,000), end to end: YAML
# files read, parsed, validated, checked for conflicts and compiled, as the CLI and a reload do it.
# Issue 6's goal: 100,000 in under 1 s. The manifests are spread over 100 files (multi-document YAML), each
# with a distinct SenderCompID, so the conflict check has real work and finds nothing. Prints the best of
# BENCH_REPEAT (3) wall-clock times and the machine load.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build-release}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
N=${2:-100000}
REPEAT=${BENCH_REPEAT:-3}
FIXGW=$BUILD/fixgw
[[ -x $FIXGW ]] || { echo "loader bench: $FIXGW not built" >&2; exit 1; }
TMP=$(mktemp -d /tmp/fixgw-loader.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP" "$N" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
files = 100
for f in range(files):
    with open(f"{out}/routes-{f:03d}.yaml", "w") as fh:
        for i in range(f, n, files):
            fh.write(f"""---
apiVersion: fixgw.io/v1alpha1
kind: FIXSession
metadata: {{name: s{i}, namespace: bench}}
spec:
  matchFields:
    SenderCompID49: {{value: "SENDER_{i}"}}
    TargetCompID56: {{value: "GATEWAY"}}
  target: {{service: {{name: engine-{i % 50}, port: {{number: 9880}}}}}}
""")
PY
# Wall time, and CPU time (user + system, which other load on the machine distorts far less).
best= best_cpu=
for ((i = 0; i < REPEAT; i++)); do
	/usr/bin/time -f '%e %U %S' -o "$TMP.time" "$FIXGW" routes check "$TMP" >"$TMP.out" 2>&1 ||
		{ tail -3 "$TMP.out" >&2; rm -f "$TMP.out" "$TMP.time"; exit 1; }
	read -r wall user sys <"$TMP.time"
	ms=$(awk -v w="$wall" 'BEGIN { printf "%d", w * 1000 }')
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", (u + s) * 1000 }')
	if [[ -z $best || $ms -lt $best ]]; then best=$ms; fi
	if [[ -z $best_cpu || $cpu -lt $best_cpu ]]; then best_cpu=$cpu; fi
done
echo "fixgw routes check: $N FIXSessions in 100 files: best of $REPEAT: $best ms wall, $best_cpu ms CPU;" \
	"$(tail -1 "$TMP.out"); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$TMP.out" "$TMP.time"
