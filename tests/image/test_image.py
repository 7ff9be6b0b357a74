"""The container image (scripts/image.sh): built twice to the same digest, non-root, fixgw as entrypoint,
labelled with the source revision, and its own root file system runs fixgw: `fixgw version`, and a gateway
that routes a Logon to an engine, started with chroot into the unpacked image as the image's user (so only
the image's libraries are used). Run as a suite of its own (`scripts/test.sh image`): the two builds fetch
Debian packages and take about a minute each."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(os.environ.get("FIXGW_ROOT", pathlib.Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from fixmsg import logon  # noqa: E402

BIN = pathlib.Path(os.environ.get("FIXGW_BIN", ROOT / "build-release" / "fixgw"))


def build(out):
    r = subprocess.run([str(ROOT / "scripts" / "image.sh"), str(out)], capture_output=True, text=True,
                       env=dict(os.environ, FIXGW_IMAGE_BIN=str(BIN)), timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    ref, digest = r.stdout.strip().splitlines()[-1].split()
    return ref, digest


def blob(layout, digest):
    return json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing: cmake --build --preset release")
    d = tmp_path_factory.mktemp("image")
    a, b = d / "a", d / "b"
    ref_a, dig_a = build(a)
    ref_b, dig_b = build(b)
    rootfs = d / "rootfs"
    subprocess.run(["umoci", "raw", "unpack", "--image", f"{a}:{ref_a.split(':')[1]}", str(rootfs)], check=True,
                   capture_output=True)
    return {"layout": a, "ref": ref_a, "digest": dig_a, "digest_b": dig_b, "rootfs": rootfs}


def test_reproducible(image):
    assert image["digest"] == image["digest_b"]


def test_config_non_root_entrypoint_revision(image):
    layout = image["layout"]
    manifest = blob(layout, image["digest"])
    cfg = blob(layout, manifest["config"]["digest"])
    assert cfg["config"]["User"] == "65532:65532"
    assert cfg["config"]["Entrypoint"] == ["/usr/bin/fixgw"]
    rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    assert cfg["config"]["Labels"]["org.opencontainers.image.revision"].startswith(rev)
    assert len(manifest["layers"]) == 1
    # the chart's default image reference is this image's
    import yaml
    chart = yaml.safe_load((ROOT / "deploy/helm/fix-gateway/Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "deploy/helm/fix-gateway/values.yaml").read_text())
    assert f"{values['image']['repository']}:{chart['appVersion']}" == image["ref"]


def test_minimal_root_file_system(image):
    root = image["rootfs"]
    assert not (root / "bin" / "sh").exists() and not (root / "usr" / "bin" / "apt").exists()
    for lib in ("libssl.so.3", "libyaml-0.so.2", "libjansson.so.4", "libcurl.so.4", "libprotobuf-c.so.1"):
        assert list(root.glob(f"usr/lib/*/{lib}")), lib


def chroot(image, *args, **kw):
    return ["chroot", "--userspec=65532:65532", str(image["rootfs"]), "/usr/bin/fixgw", *args]


def test_version_from_the_image(image):
    r = subprocess.run(chroot(image, "version"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("fixgw " + image["ref"].split(":")[1])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gateway_from_the_image_routes_a_logon(image):
    """Standalone gateway from the image's root file system: config and route under its /tmp, an echo
    engine on the host's loopback (chroot shares the network namespace)."""
    engine = socket.socket()
    engine.bind(("127.0.0.1", 0))
    engine.listen(4)
    eport = engine.getsockname()[1]
    got = []

    def serve():
        c, _ = engine.accept()
        with c:
            data = c.recv(4096)
            got.append(data)
            c.sendall(data)
            c.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    port, admin = _free_port(), _free_port()
    tmp = image["rootfs"] / "tmp" / "smoke"
    (tmp / "routes").mkdir(parents=True, exist_ok=True)
    (tmp / "routes" / "a.yaml").write_text(
        "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a, namespace: trading}\n"
        "spec:\n  matchFields: {SenderCompID49: {value: BROKER_A}}\n"
        "  target: {service: {name: eq, port: {number: 9880}}}\n")
    (tmp / "fixgw.yaml").write_text(
        f"workers: 1\nlisteners: [{{name: fix-plain, address: 127.0.0.1:{port}}}]\n"
        f"admin: {{address: 127.0.0.1:{admin}}}\nshutdownGracePeriod: 1s\nroutes: [routes]\n"
        f"endpoints: {{trading/eq:9880: [{{address: 127.0.0.1:{eport}}}]}}\n")
    os.chmod(tmp, 0o755)
    gw = subprocess.Popen(chroot(image, "gateway", "--config", "/tmp/smoke/fixgw.yaml"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert gw.poll() is None, gw.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "the gateway from the image did not listen within 30 s"
                time.sleep(0.05)
        msg = logon(sender="BROKER_A")
        with s:
            s.sendall(msg)
            s.settimeout(10)
            back = b""
            while len(back) < len(msg):
                d = s.recv(4096)
                if not d:
                    break
                back += d
        assert back == msg and got == [msg]
    finally:
        gw.terminate()
        _, err = gw.communicate(timeout=30)
    assert gw.returncode == 0, err.decode()[-3000:]
    assert b'"routing_decision"' in err and b"ROUTE" in err
