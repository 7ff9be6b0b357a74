import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("FIXGW_ROOT", pathlib.Path(__file__).resolve().parents[2]))
# FIXGW_BIN runs every end-to-end test against another build (the asan-ubsan one, say).
FIXGW = pathlib.Path(os.environ.get("FIXGW_BIN", ROOT / "build" / "fixgw"))
EXAMPLES = ROOT / "crds" / "examples"
# scripts/test.sh sets FIXGW_REQUIRE_PEERS=1: there a missing peer program (the QuickFIX peers, openssl) fails
# the tests that need it, so a suite cannot pass by skipping them; run by hand, pytest skips them.
REQUIRE_PEERS = os.environ.get("FIXGW_REQUIRE_PEERS") == "1"


def missing_peer(why):
    """Skip the calling test for want of a peer program, or fail it under FIXGW_REQUIRE_PEERS=1."""
    if REQUIRE_PEERS:
        pytest.fail(f"{why} (FIXGW_REQUIRE_PEERS=1: the test command needs every peer)")
    pytest.skip(why)


def _built_with_tsan(path):
    try:
        return b"__tsan_init" in path.read_bytes()
    except OSError:
        return False


# Against a ThreadSanitizer build (the test command's TSan suite, or FIXGW_SANITIZER=thread): TSan's
# allocator keeps freed memory, so tests about the gateway's RSS say nothing about the product there.
UNDER_TSAN = os.environ.get("FIXGW_SANITIZER") == "thread" or _built_with_tsan(FIXGW)


@pytest.fixture(scope="session")
def fixgw():
    if not FIXGW.exists():
        pytest.fail(f"{FIXGW} is missing: build first (make)")
    return str(FIXGW)


def run(args, stdin=b"", timeout=30):
    return subprocess.run([str(FIXGW)] + list(args), input=stdin, capture_output=True, timeout=timeout)


@pytest.fixture
def engines():
    """engines(**kw) -> a started gwharness.Engine, stopped after the test."""
    from gwharness import Engine
    made = []

    def make(**kw):
        e = Engine(**kw)
        made.append(e)
        return e
    yield make
    for e in made:
        e.stop()


@pytest.fixture
def gateways():
    """gateways(tmp_path, routes, endpoints, ...) -> a gwharness.Gateway, stopped (and checked) after the test."""
    from gwharness import Gateway
    made = []

    def make(*a, **kw):
        g = Gateway(*a, **kw)
        made.append(g)
        return g
    yield make
    failure = None
    for g in made:  # every one, even after one of them failed its stop checks
        try:
            g.stop()
        except Exception as e:  # noqa: BLE001 (re-raised below)
            failure = failure or e
    if failure:
        raise failure


@pytest.fixture
def script():
    """script(ARGS..., env={...}) starts a gwharness.Script; whatever is still running at teardown is killed."""
    from gwharness import Script
    started = []

    def start(*args, env=None):
        s = Script(args, env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()
