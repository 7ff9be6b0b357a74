#!/usr/bin/env bash
# Install what fixgw needs, by Debian package name (every name exists on Debian 12 and 13). Idempotent: installs
# only what is missing, so a second run costs a few dpkg queries.
#   scripts/setup.sh          to build (make)
#   scripts/setup.sh --run    to build and run the standalone setup (make run, make demo)
#   scripts/setup.sh --test   to build and run every test suite (make test): adds the sanitizer, fuzzing and
#                             format tools
#   scripts/setup.sh --image  to build the container image (make image): adds mmdebstrap and umoci
set -euo pipefail

# Building build/fixgw: a C17 compiler, CMake + Ninja and the libraries it links (the OTLP exporter's
# protobuf-c and libcurl among them).
BUILD_PKGS=(build-essential cmake ninja-build pkg-config libyaml-dev libjansson-dev libssl-dev libprotobuf-c-dev
	protobuf-c-compiler libcurl4-openssl-dev)
# Running it as `make run` does: the QuickFIX acceptor it routes to (tests/peers, C++), a throwaway certificate
# and the Logon the printed command sends.
RUN_PKGS=(openssl python3 libquickfix-dev)
# The test suites. clang and libclang-rt-dev are the release's default clang and its matching runtime
# (libFuzzer, LeakSanitizer); clang-format-19 is pinned, as formatting differs between versions, and is the
# same 19.1.7 on Debian 12 and 13.
# prometheus: its promtool tests the alert rules (the server itself is not started). The Kubernetes suite's own
# programs (etcd, kube-apiserver, otelcol, helm ...) are built from tools/ with the Go toolchain (>= 1.26).
# nftables: the routing-loop test writes a DNAT rule (as kube-proxy does for a Service) in its own network namespace.
# chromium: the docs suite renders the Mermaid diagrams with mermaid-cli (npm, pinned in tools/mermaid), whose
# puppeteer drives this browser instead of downloading one.
TEST_PKGS=(clang llvm libclang-rt-dev clang-format-19 python3-pytest python3-yaml haproxy iproute2 procps
	nftables prometheus chromium)
# node and npm for mermaid-cli (>= 18.19): Debian's, unless the machine already has both (NodeSource's nodejs
# bundles its own npm, and Debian's npm package would clash with it).
NODE_PKGS=(nodejs npm)
# The OCI image without a container daemon (scripts/image.sh): a minimal root file system and the image layout.
IMAGE_PKGS=(mmdebstrap umoci)

want=("${BUILD_PKGS[@]}")
case "${1:-}" in
"") ;;
--run) want+=("${RUN_PKGS[@]}") ;;
--test)
	want+=("${RUN_PKGS[@]}" "${TEST_PKGS[@]}" "${IMAGE_PKGS[@]}")
	command -v node >/dev/null && command -v npm >/dev/null || want+=("${NODE_PKGS[@]}")
	;;
--image) want+=("${IMAGE_PKGS[@]}") ;;
*)
	echo "usage: scripts/setup.sh [--run | --test | --image]" >&2
	exit 2
	;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	# Another apt run (a second checkout's setup, say) holds the lock for a while: wait for it.
	lock=(-o DPkg::Lock::Timeout=600)
	$SUDO apt-get "${lock[@]}" update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
fi
# pytest may come from the image's Python rather than Debian's; either will do.
if [ "${1:-}" = "--test" ] && ! python3 -c 'import pytest' 2>/dev/null; then
	python3 -m pip install -q pytest
fi
