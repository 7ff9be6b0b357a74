#!/usr/bin/env bash
# Builds the pinned third-party test programs (etcd, kube-apiserver, kubectl, kube-controller-manager,
# otelcol, helm) from the Go modules in tools/, or takes them from a binary cache outside the clone, and prints
# as its LAST line the directory that holds them (the interface `make tools` promises).
#
# The cache key is the hash of every module file, the collector's main, this script and `go version`, so a
# changed pin builds a new directory and an unchanged one costs a hash. A build goes into a temporary directory
# that is renamed into place only when every binary is there: a half-built directory is never used. Go's own
# caches stay in their default places (GOMODCACHE, GOCACHE) so a second clone on the same machine builds warm.
# Never runs `go mod tidy`: the committed go.sum is the pin (-mod=readonly), and go build downloads what the
# module cache lacks.
#
# Environment: FIXGW_TOOLS_CACHE overrides the cache root; FIXGW_TOOLS_NICE the niceness of the build (10).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${FIXGW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fixgw-testtools}"
binaries=(etcd kube-apiserver kubectl kube-controller-manager otelcol helm)
# Cold build of everything: about 7 GB of Go caches and 0.5 GB of binaries (docs/internals/test-harness.md).
need_cold_mib=8192

die() {
	echo "tools/build.sh: $*" >&2
	exit 1
}
log() { echo "tools/build.sh: $*" >&2; }

command -v go >/dev/null || die "go is not installed (Go >= 1.26 is needed to build the test programs)"
gover="$(go env GOVERSION)"
case "$gover" in
go1.2[6-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
*) die "$gover is too old: the tools/ modules need Go >= 1.26" ;;
esac
# A go.mod asking for a newer Go must fail here, not download a toolchain.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -mod=readonly -modcacherw"

key="$(cd "$here" && cat */go.mod */go.sum otelcol/*.go build.sh | {
	cat
	go version
} | sha256sum | cut -c1-16)"
dir="$cache_root/$key"

complete() {
	[ -f "$1/.complete" ] || return 1
	local b
	for b in "${binaries[@]}"; do [ -x "$1/$b" ] || return 1; done
}

if complete "$dir"; then
	echo "$dir"
	exit 0
fi

mkdir -p "$cache_root"
# One build at a time per cache (the test command starts one in the background while `make tools` may run
# in a second shell): the second waits, then finds the first one's result.
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
	log "another build of the test tools is running; waiting for it"
	flock 9
fi
if complete "$dir"; then
	echo "$dir"
	exit 0
fi

# Disk: a cold build needs ~8 GiB of Go caches; whatever of them already exists is not needed again.
mib_used() { du -sm "$1" 2>/dev/null | cut -f1 || echo 0; }
free_mib() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }
gocache="$(go env GOCACHE)"
gomodcache="$(go env GOMODCACHE)"
have=$(($(mib_used "$gocache") + $(mib_used "$gomodcache")))
need=$((need_cold_mib - have))
[ "$need" -ge 1024 ] || need=1024
mkdir -p "$gocache" "$gomodcache"
for d in "$gocache" "$gomodcache" "$cache_root"; do
	free=$(free_mib "$d")
	[ "$free" -ge "$need" ] || die "only ${free} MiB free on the file system of $d; building the test tools needs about ${need} MiB (Go caches ${have} MiB so far)"
done

tmp="$(mktemp -d "$cache_root/.build.$key.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
nice_cmd=(nice -n "${FIXGW_TOOLS_NICE:-10}")

k8s_ver=v1.37.2
k8s_ldflags="-s -w
 -X k8s.io/component-base/version.gitVersion=$k8s_ver -X k8s.io/component-base/version.gitMajor=1
 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean
 -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z
 -X k8s.io/client-go/pkg/version.gitVersion=$k8s_ver -X k8s.io/client-go/pkg/version.gitMajor=1
 -X k8s.io/client-go/pkg/version.gitMinor=37"
# Without the chartutil flags helm's .Capabilities.KubeVersion defaults to v1.20.0.
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"

build() { # module, what, go build arguments...
	local mod=$1 what=$2 t0=$SECONDS
	shift 2
	log "building $what"
	(cd "$here/$mod" && "${nice_cmd[@]}" go build "$@") ||
		die "building $what failed (module tools/$mod; see the go output above)"
	log "built $what in $((SECONDS - t0)) s"
}

t_all=$SECONDS
log "building the pinned test tools into $dir (cold: 12-17 min and ~7 GB of Go caches; warm: under a minute)"
# The collector first: it is the quickest and the telemetry tests need it too.
build otelcol otelcol -ldflags "-s -w" -o "$tmp/otelcol" .
build etcd etcd -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
build helm helm -ldflags "$helm_ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
build k8s "kube-apiserver, kubectl, kube-controller-manager" -ldflags "$k8s_ldflags" -o "$tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-controller-manager
for b in "${binaries[@]}"; do [ -x "$tmp/$b" ] || die "$b is missing after the build"; done
touch "$tmp/.complete"
chmod 755 "$tmp"
rm -rf "$dir"
mv -T "$tmp" "$dir"
trap - EXIT
log "all test tools built in $((SECONDS - t_all)) s"

# Keep the three newest builds (a branch switch back and forth stays warm); older ones are 0.5 GB each.
ls -1dt "$cache_root"/*/ 2>/dev/null | tail -n +4 | while read -r old; do rm -rf "$old"; done

echo "$dir"
