#!/bin/sh
# gen-fixsessions.sh N DIR - write N exact-match FIXSessions into DIR, 5,000 per file (part000.yaml, ...),
# for timing the loader: `build-release/fixgw routes check DIR` (docs/benchmarks.md).
set -eu
n=$1
dir=$2
mkdir -p "$dir"
awk -v n="$n" -v dir="$dir" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = sprintf("%s/part%03d.yaml", dir, int(i / 5000))
		printf "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata:\n  name: s%d\n  namespace: trading\nspec:\n  matchFields:\n    SenderCompID49:\n      value: \"CLIENT%d\"\n  target:\n    service:\n      name: engine%d\n      port:\n        number: 9880\n", i, i, i % 50 > f
	}
}'
