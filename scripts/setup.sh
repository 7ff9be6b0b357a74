#!/usr/bin/env bash
# Install what fixgw needs to build and test, by Debian package name. Idempotent: installs only what is
# missing, so a second run costs a few dpkg queries.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build pkg-config clang llvm libclang-rt-14-dev clang-format
	libyaml-dev libjansson-dev libssl-dev openssl libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev)
TEST_PKGS=(python3 python3-pytest python3-yaml libquickfix-dev g++ haproxy iproute2 procps)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" = "--test" ]; then
	want+=("${TEST_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# pytest may come from the image's Python rather than Debian's; either will do.
if [ "${1:-}" = "--test" ] && ! python3 -c 'import pytest' 2>/dev/null; then
	python3 -m pip install -q pytest
fi
