#!/usr/bin/env bash
# Builds fixgw's OCI container image without a container daemon: mmdebstrap extracts a minimal Debian root
# file system with only the runtime libraries fixgw links (and their dependencies, no shell, no package
# manager), the release binary goes in as /usr/bin/fixgw, and umoci writes it as a one-layer OCI image:
# non-root user 65532, entrypoint fixgw, labelled with the source revision.
#
#   scripts/image.sh [OUT]     OUT: the OCI layout directory to write (default build-image/oci)
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the commit time of HEAD), so the same binary
# and the same Debian packages give the same image digest. The digest depends on the packages the mirror
# serves: set FIXGW_IMAGE_MIRROR to a snapshot.debian.org URL to pin them too.
#
# Environment: FIXGW_IMAGE_BIN the fixgw binary (default build-release/fixgw, built here when missing),
# FIXGW_IMAGE_SUITE (bookworm), FIXGW_IMAGE_MIRROR (the Debian mirror; default deb.debian.org).
# Prints the image reference (fixgw:<version>) and its manifest digest as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
	echo "image: $*" >&2
	exit 1
}
for t in mmdebstrap umoci; do
	command -v "$t" >/dev/null || die "$t is missing: ./scripts/setup.sh --image installs it"
done

out="${1:-build-image/oci}"
bin="${FIXGW_IMAGE_BIN:-build-release/fixgw}"
suite="${FIXGW_IMAGE_SUITE:-bookworm}"
mirror="${FIXGW_IMAGE_MIRROR:-http://deb.debian.org/debian}"
if [ -z "${FIXGW_IMAGE_BIN:-}" ]; then
	cmake --preset release >/dev/null
	cmake --build --preset release >/dev/null
fi
[ -x "$bin" ] || die "$bin is not an executable"
version="$("$bin" version | awk '{print $2; exit}')"
revision="$(git rev-parse HEAD)"
git diff --quiet HEAD -- src CMakeLists.txt || revision="$revision-dirty"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

# fixgw's runtime libraries (ldd build-release/fixgw: libssl3, libyaml-0-2, libjansson4, libcurl4,
# libprotobuf-c1; libc6 and the rest come as their dependencies) and the CA bundle for the OTLP exporter.
pkgs=libc6,libssl3,libyaml-0-2,libjansson4,libcurl4,libprotobuf-c1,ca-certificates

work="$(mktemp -d "${TMPDIR:-/tmp}/fixgw-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --variant=extract unpacks the packages without running their maintainer scripts (the image has no shell to
# run them); the documentation goes at extraction already.
mmdebstrap --quiet --variant=extract --include="$pkgs" --architectures=amd64 \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
	"$suite" "$work/rootfs" "$mirror"

# What a package manager leaves (the image has none), the binary, the non-root user and the CA bundle (made by
# ca-certificates' maintainer script, so taken from the host: the same content for the same version).
r="$work/rootfs"
rm -rf "$r"/var/lib/apt "$r"/var/cache/apt "$r"/var/lib/dpkg "$r"/etc/apt "$r"/var/log/* "$r"/dev/* \
	"$r"/etc/hostname "$r"/etc/resolv.conf
install -D -m 0755 "$bin" "$r/usr/bin/fixgw"
mkdir -p "$r/etc/ssl/certs" "$r/tmp"
chmod 1777 "$r/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nfixgw:x:65532:65532:fixgw:/nonexistent:/usr/sbin/nologin\n' \
	>"$r/etc/passwd"
printf 'root:x:0:\nfixgw:x:65532:\n' >"$r/etc/group"
# A deterministic layer: sorted names, one mtime, numeric root ownership, no atime/ctime.
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$r" -cf "$work/rootfs.tar" .

rm -rf "$out"
mkdir -p "$(dirname "$out")"
umoci init --layout "$out"
umoci new --image "$out:$version"
umoci raw add-layer --image "$out:$version" --history.created "$created" \
	--history.created_by "scripts/image.sh: mmdebstrap $suite ($pkgs) + fixgw $version" "$work/rootfs.tar"
umoci config --image "$out:$version" --no-history --created "$created" \
	--architecture amd64 --os linux \
	--config.user 65532:65532 --config.entrypoint /usr/bin/fixgw --config.cmd version \
	--config.workingdir / \
	--config.label "org.opencontainers.image.revision=$revision" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "org.opencontainers.image.title=fixgw" \
	--config.label "org.opencontainers.image.created=$created" \
	--manifest.annotation "org.opencontainers.image.revision=$revision" \
	--manifest.annotation "org.opencontainers.image.ref.name=$version"
umoci gc --layout "$out"
digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$out/index.json")"
echo "image: fixgw:$version $digest in $out (load: skopeo copy oci:$out:$version docker-daemon:fixgw:$version)" >&2
echo "fixgw:$version $digest"
