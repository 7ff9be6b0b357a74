#!/usr/bin/env bash
# The README's test command (`make test`; CI runs exactly that). Installs what the tests need, then runs every
# suite listed at the end of this file, each to its end even when an earlier one failed, and closes with a table
# (suite, result, seconds, what it counted) and the line "N passed, N failed[, N skipped]": the tests of every
# suite added up (a suite without a test runner, a build say, counts as one check; a suite that fails without a
# failed test counts one failure). Exits 1 when any suite failed.
#
#   scripts/test.sh              every suite
#   scripts/test.sh NAME...      only these suites (in the listed order)
#   scripts/test.sh --list       the suites' names and what each checks
#
# Adding a suite is one line in the list at the end:
#   suite NAME "what it checks" 'COMMAND'
# COMMAND is a bash command line, run from the repository root under `set -euo pipefail`, with the helpers
# below (build, unit, e2e, peers, preset_dir). Its output goes to the terminal and to build-test/NAME.log.
# A suite that runs longer than its limit (FIXGW_SUITE_TIMEOUT seconds, default 1200, unless the suite sets its
# own) is stopped and counts as failed.
# FIXGW_REQUIRE_PEERS=1 is set here: end-to-end tests whose peers (QuickFIX, haproxy) are missing fail instead
# of skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
export FIXGW_ROOT="$PWD"
export FIXGW_REQUIRE_PEERS=1
LOGS=build-test

# ---------------------------------------------------------------- helpers for suite commands

# preset_dir PRESET: the preset's build directory (binaryDir in CMakePresets.json), relative to the root.
preset_dir() {
	python3 - "$1" <<'PY'
import json, sys
for p in json.load(open("CMakePresets.json"))["configurePresets"]:
    if p["name"] == sys.argv[1]:
        print(p["binaryDir"].replace("${sourceDir}/", ""))
        sys.exit(0)
sys.exit(f"no configure preset {sys.argv[1]} in CMakePresets.json")
PY
}

# build PRESET [CMAKE ARGS...]: configure (quietly) and build a CMake preset; incremental.
build() {
	local preset=$1
	shift
	cmake --preset "$preset" "$@" >/dev/null
	cmake --build --preset "$preset"
}

# unit PRESET [CTEST ARGS...]: build PRESET and run its unit tests (CTest label `unit`).
unit() {
	local preset=$1
	shift
	build "$preset"
	ctest --test-dir "$(preset_dir "$preset")" -L unit --output-on-failure -j "$(nproc)" "$@"
}

# peers: build the QuickFIX test peers (tests/peers) into build-peers/.
peers() {
	cmake -S tests/peers -B build-peers -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-peers
}

# e2e PRESET [PYTEST ARGS...]: build PRESET and the peers, then run pytest (default: tests/e2e) against the
# preset's fixgw binary.
e2e() {
	local preset=$1 dir
	shift
	build "$preset"
	peers
	dir=$(preset_dir "$preset")
	[ $# -gt 0 ] || set -- tests/e2e
	FIXGW_BIN="$PWD/$dir/fixgw" python3 -m pytest -q -p no:cacheprovider "$@"
}

# fuzz SECONDS: the libFuzzer targets (clang): replay each corpus, then SECONDS of fresh fuzzing each.
fuzz() {
	build fuzz -DFIXGW_FUZZ_SECONDS="$1"
	ctest --test-dir "$(preset_dir fuzz)" -L fuzz --output-on-failure -j "$(nproc)"
}

# tools_dir: the directory of the pinned test programs (tools/build.sh's last line). The build main() started
# in the background holds the tools cache's lock: this waits for it, then takes its result from the cache.
tools_dir() {
	./tools/build.sh | tail -n 1
}

export -f preset_dir build unit peers e2e fuzz tools_dir

# ---------------------------------------------------------------- the runner

names=()
declare -A what command limit
suite() { # NAME DESCRIPTION COMMAND [TIMEOUT SECONDS, default FIXGW_SUITE_TIMEOUT]
	names+=("$1")
	what[$1]=$2
	command[$1]=$3
	limit[$1]=${4:-${FIXGW_SUITE_TIMEOUT:-1200}}
}

# count LOG: "passed failed skipped" summed over the CTest and pytest summaries in LOG, or nothing if none.
count() {
	python3 - "$1" <<'PY'
import re, sys
p = f = s = 0
seen = False
for line in open(sys.argv[1], errors="replace"):
    line = line.strip().strip("=").strip()
    m = re.match(r"\d+% tests passed, (\d+) tests? failed out of (\d+)", line)
    if m:
        seen = True
        f += int(m[1])
        p += int(m[2]) - int(m[1])
        continue
    m = re.fullmatch(r"((?:\d+ \w+(?:, )?)+) in [\d.]+s(?: \([\d:]+\))?", line)
    if m:
        seen = True
        for n, word in re.findall(r"(\d+) (\w+)", m[1]):
            if word == "passed":
                p += int(n)
            elif word in ("failed", "error", "errors"):
                f += int(n)
            elif word == "skipped":
                s += int(n)
if seen:
    print(p, f, s)
PY
}

run_suite() { # NAME: run it, record result, seconds and counts
	local name=$1 log="$LOGS/$1.log" start rc
	printf '\n==> [%s] %s\n' "$name" "${what[$name]}"
	start=$(date +%s)
	rm -f "$LOGS/.pid" "$LOGS/.rc"
	{
		timeout -k 30 "${limit[$name]}" bash -c "set -euo pipefail; ${command[$name]}" </dev/null &
		echo $! >"$LOGS/.pid"
		wait $!
		echo $? >"$LOGS/.rc"
	} 2>&1 | tee "$log" &
	wait $! # tee: ends once the suite's output is all written
	rc=$(cat "$LOGS/.rc" 2>/dev/null || echo 1)
	seconds[$name]=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ]; then
		result[$name]=passed
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		result[$name]="timed out"
	else
		result[$name]=FAILED
	fi
	counts[$name]=$(count "$log")
}

tools_pid=""
stop_tools_build() { # the background build of the test programs, if still running (its own process group)
	[ -z "$tools_pid" ] || kill -- -"$tools_pid" 2>/dev/null || true
}

interrupted() { # Ctrl-C or SIGTERM: stop the running suite (timeout passes it on to the suite's processes)
	[ -f "$LOGS/.pid" ] && kill -TERM "$(cat "$LOGS/.pid")" 2>/dev/null
	stop_tools_build
	wait
	echo "test: interrupted" >&2
	exit 130
}

main() {
	local name p f s total_p=0 total_f=0 total_s=0 suites_p=0 suites_f=0 tests
	if [ "${1:-}" = "--list" ]; then
		for name in "${names[@]}"; do
			printf '%-12s %s\n' "$name" "${what[$name]}"
		done
		exit 0
	fi
	local run=("${names[@]}")
	if [ $# -gt 0 ]; then
		for name in "$@"; do
			[ -n "${command[$name]+set}" ] || {
				echo "test: no suite $name (scripts/test.sh --list)" >&2
				exit 2
			}
		done
		run=()
		for name in "${names[@]}"; do
			[[ " $* " == *" $name "* ]] && run+=("$name")
		done
	fi

	./scripts/setup.sh --test || exit 1
	mkdir -p "$LOGS"
	# The Kubernetes suite's programs take 12-17 min to build on a new machine (seconds when cached): start
	# first, in the background and in a process group of its own, so the build overlaps the other suites.
	for name in "${tools_suites[@]}"; do
		if [[ " ${run[*]} " == *" $name "* ]]; then
			setsid -w ./tools/build.sh >"$LOGS/tools-build.log" 2>&1 &
			tools_pid=$!
			break
		fi
	done
	trap interrupted INT TERM
	declare -gA result seconds counts
	for name in "${run[@]}"; do
		run_suite "$name"
	done
	trap - INT TERM
	stop_tools_build

	printf '\n==> summary (logs in %s/)\n' "$LOGS"
	printf '%-12s %-9s %7s  %s\n' SUITE RESULT SECONDS TESTS
	for name in "${run[@]}"; do
		if [ -n "${counts[$name]}" ]; then
			read -r p f s <<<"${counts[$name]}"
			tests="$p passed, $f failed"
			[ "$s" -eq 0 ] || tests+=", $s skipped"
		else
			p=0 f=0 s=0
			tests="(one check)"
		fi
		if [ "${result[$name]}" = passed ]; then
			suites_p=$((suites_p + 1))
			[ -n "${counts[$name]}" ] || p=1
		else
			suites_f=$((suites_f + 1))
			[ "$f" -gt 0 ] || f=1
		fi
		total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
		printf '%-12s %-9s %7s  %s\n' "$name" "${result[$name]}" "${seconds[$name]}" "$tests"
	done
	echo "suites: $suites_p passed, $suites_f failed"
	if [ "$total_s" -gt 0 ]; then
		echo "$total_p passed, $total_f failed, $total_s skipped"
	else
		echo "$total_p passed, $total_f failed"
	fi
	[ "$suites_f" -eq 0 ]
}

# ---------------------------------------------------------------- the suites, in the order they run

suite format "clang-format-19 check (make format fixes it)" 'make -s format-check'
suite unit "unit tests (default build)" 'unit default'
# The docs (tests/docs, docs/README.md "How the docs are checked"): the spec's tree, ADR format, links and
# anchors, no placeholders, the design's sections, FIXSession examples through `fixgw routes check`, and every
# Mermaid diagram rendered by the pinned mermaid-cli in Debian's chromium (tools/mermaid/install.sh).
suite docs "docs: spec tree, ADRs, links and anchors, placeholders, design sections, FIXSession examples, Mermaid rendering" \
	'build default && FIXGW_BIN="$PWD/$(preset_dir default)/fixgw" python3 -m pytest -q -p no:cacheprovider tests/docs'
suite release "release build (-O3 finds warnings -O2 does not)" 'build release'
suite unit-asan "unit tests under AddressSanitizer + UBSan" 'ASAN_OPTIONS=detect_leaks=1 unit asan-ubsan'
suite fuzz "fuzz targets: corpus replay and ${FIXGW_FUZZ_SECONDS:-15} s of fresh fuzzing each" \
	"fuzz ${FIXGW_FUZZ_SECONDS:-15}"
# The collector comes from tools/build.sh (cached outside the clone; FIXGW_OTELCOL overrides), see conftest.py.
suite otel "the OTLP exporter against the real OpenTelemetry Collector and broken collectors (tests/otel)" \
	'build default && python3 -m pytest -q -p no:cacheprovider tests/otel'
suite e2e-asan "end-to-end tests against the ASan/UBSan build (every process must exit cleanly)" \
	'ASAN_OPTIONS=detect_leaks=1 e2e asan-ubsan'
# ThreadSanitizer: races between workers, the control loop's reloads and drains, and the admin endpoint. A
# race stops the process (halt_on_error), so the test that drove it fails with TSan's report in its log.
suite unit-tsan "unit tests under ThreadSanitizer" \
	'TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" unit tsan'
suite e2e-tsan "end-to-end tests against the ThreadSanitizer build" \
	'TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" e2e tsan'
# The gateway's OTLP export under TSan: the exporter thread reads the workers' counters from its first
# collection on, which the plain otel suite cannot see racing.
suite otel-tsan "the gateway's OTLP export (tests/otel/test_gateway_otel.py) against the ThreadSanitizer build" \
	'TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" e2e tsan tests/otel/test_gateway_otel.py'
suite e2e "end-to-end tests against the default build" 'e2e default'
# A real etcd, kube-apiserver and kube-controller-manager (tests/k8s, docs/internals/test-harness.md); its
# programs have been building in the background since the start (log: build-test/tools-build.log).
# The suites that use the pinned test programs (tools_dir): when one of them is to run, their build starts first.
tools_suites=(k8s)
suite k8s "Kubernetes tests against a real control plane, with the pinned test programs (make tools)" \
	'dir=$(tools_dir) && echo "test programs: $dir" && FIXGW_TOOLS_DIR=$dir e2e default tests/k8s' \
	"${FIXGW_K8S_SUITE_TIMEOUT:-3000}" # a control plane's worth of tests (the 1,000-file batch among them)
# The container image (scripts/image.sh, tests/image): built twice (same digest), unpacked, and its fixgw run
# from the image's own root file system. Fetches Debian packages: about 40 s on a quiet machine.
suite image "OCI image: reproducible, non-root, runs fixgw version and a Logon from its own root file system" \
	'build release && FIXGW_BIN="$PWD/$(preset_dir release)/fixgw" python3 -m pytest -q -p no:cacheprovider tests/image'

main "$@"
