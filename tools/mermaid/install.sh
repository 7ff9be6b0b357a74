#!/usr/bin/env bash
# Installs the pinned mermaid-cli (package.json + package-lock.json beside this script) into a cache outside the
# clone, or finds it there, and prints as its LAST line the directory that holds node_modules/ (its mmdc is
# node_modules/.bin/mmdc). The docs suite (tests/docs) renders every Mermaid block of the docs with it.
#
# As tools/build.sh does for the Go programs: the cache key is the hash of the lock file, package.json, this
# script and node's major version, so a changed pin installs a new directory and an unchanged one costs a hash;
# an install goes into a temporary directory that is renamed into place only when it is complete. `npm ci`
# installs exactly the lock file (never resolves anew). Puppeteer must not download a browser of its own
# (PUPPETEER_SKIP_DOWNLOAD=1, and no install scripts run at all): the renderer drives Debian's chromium
# (scripts/setup.sh --test), as puppeteer-config.json says.
#
# Environment: FIXGW_MERMAID_CACHE overrides the cache root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${FIXGW_MERMAID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fixgw-mermaid}"

die() {
	echo "tools/mermaid/install.sh: $*" >&2
	exit 1
}

command -v node >/dev/null || die "node is not installed (scripts/setup.sh --test installs it)"
command -v npm >/dev/null || die "npm is not installed (scripts/setup.sh --test installs it)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old: mermaid-cli 11 needs node >= 18.19"

key="$(cd "$here" && cat package.json package-lock.json install.sh | {
	cat
	echo "node $node_major"
} | sha256sum | cut -c1-16)"
dir="$cache_root/$key"

complete() { [ -f "$1/.complete" ] && [ -x "$1/node_modules/.bin/mmdc" ]; }

if complete "$dir"; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock" # one install at a time per cache; the second finds the first one's result
flock 9
if complete "$dir"; then
	echo "$dir"
	exit 0
fi

tmp="$(mktemp -d "$cache_root/.install.$key.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
echo "tools/mermaid/install.sh: installing mermaid-cli into $dir" >&2
(cd "$tmp" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
	die "npm ci failed (see its output above)"
[ -x "$tmp/node_modules/.bin/mmdc" ] || die "node_modules/.bin/mmdc is missing after npm ci"
touch "$tmp/.complete"
chmod 755 "$tmp"
rm -rf "$dir"
mv -T "$tmp" "$dir"
trap - EXIT

# Keep the three newest installs; older ones are about 100 MB each.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | while read -r old; do rm -rf "$old"; done

echo "$dir"
