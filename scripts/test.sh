#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test suite.
#   unit tests (optimised build) -> unit tests under ASan/UBSan -> fuzz corpus replay + short fuzzing
#   -> end-to-end tests under ASan/UBSan, then under ThreadSanitizer -> end-to-end tests (pytest) against
#   the real binary and real peers.
set -euo pipefail
cd "$(dirname "$0")/.."
export FIXGW_ROOT="$PWD"

./scripts/setup.sh --test

step() { printf '\n==> %s\n' "$*"; }

step "clang-format check (make format fixes it)"
make -s format-check

step "build (default preset)"
cmake --preset default >/dev/null
cmake --build --preset default

step "unit tests"
ctest --preset default -L unit

step "release build (-O3 finds warnings -O2 does not)"
cmake --preset release >/dev/null
cmake --build --preset release

step "unit tests under AddressSanitizer + UBSan"
cmake --preset asan-ubsan >/dev/null
cmake --build --preset asan-ubsan
ASAN_OPTIONS=detect_leaks=1 ctest --preset asan-ubsan -L unit

step "fuzz targets: corpus replay and ${FIXGW_FUZZ_SECONDS:-15}s of fresh fuzzing each"
cmake --preset fuzz -DFIXGW_FUZZ_SECONDS="${FIXGW_FUZZ_SECONDS:-15}" >/dev/null
cmake --build --preset fuzz
ctest --preset fuzz -L fuzz

if [ -f tests/peers/CMakeLists.txt ]; then
	step "QuickFIX test peers"
	cmake -S tests/peers -B build-peers -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-peers
fi

step "end-to-end tests against the ASan/UBSan build (every process must exit cleanly)"
FIXGW_BIN="$PWD/build-asan/fixgw" ASAN_OPTIONS=detect_leaks=1 python3 -m pytest -q -p no:cacheprovider tests/e2e

step "end-to-end tests under ThreadSanitizer (races between workers, reload, hold/release, drain, admin)"
# The whole suite: it exercises every thread (workers, the control loop's reloads and drains, the admin
# endpoint) and takes about as long as the ASan run. A race stops the process (halt_on_error), so the test
# that drove it fails with TSan's report in the gateway's log.
cmake --preset tsan >/dev/null
cmake --build --preset tsan
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --preset tsan -L unit
FIXGW_BIN="$PWD/build-tsan/fixgw" TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	python3 -m pytest -q -p no:cacheprovider tests/e2e

step "end-to-end tests"
# Last, so its closing line is the run's verdict. pytest exits 5 when it collected no tests: with set -e
# that fails this script too, as it should.
python3 -m pytest -q -p no:cacheprovider tests/e2e
