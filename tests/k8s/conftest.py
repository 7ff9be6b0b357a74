"""Fixtures of the Kubernetes suite: one control plane for the whole session (k8s), a fresh namespace per test
(k8s_ns), and network namespaces for test engines (netns). Run it as its own pytest session
(`python3 -m pytest tests/k8s`): it shares module names with tests/e2e, whose harness it imports."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(os.environ.get("FIXGW_ROOT", pathlib.Path(__file__).resolve().parents[2]))
# tests/e2e/gwharness reads these from `conftest`: the same meaning as in tests/e2e/conftest.py.
FIXGW = pathlib.Path(os.environ.get("FIXGW_BIN", ROOT / "build" / "fixgw"))
EXAMPLES = ROOT / "crds" / "examples"

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.append(str(ROOT / "tests" / "e2e"))

import k8sharness  # noqa: E402


@pytest.fixture(scope="session")
def fixgw():
    if not FIXGW.exists():
        pytest.fail(f"{FIXGW} is missing: build first (make)")
    return str(FIXGW)


@pytest.fixture(scope="session")
def k8s_tools():
    """The directory of the pinned test programs (make tools)."""
    return k8sharness.tools_dir()


@pytest.fixture(scope="session")
def k8s(k8s_tools):
    """The session's control plane (k8sharness.ControlPlane): etcd, kube-apiserver, kube-controller-manager,
    the FIXSession CRD installed. Stopped (apiserver before etcd) when the session ends, pass or fail."""
    k8sharness.sweep_stale()
    cp = k8sharness.ControlPlane(k8s_tools)
    try:
        cp.start()
    except BaseException:
        cp.stop()
        raise
    yield cp
    cp.stop()


@pytest.fixture
def k8s_ns(k8s):
    """A namespace of its own for one test (deleted afterwards, in the background)."""
    name = k8s.namespace("t")
    yield name
    if k8s.procs["kube-apiserver"].running():
        k8s.delete_namespace(name)


@pytest.fixture
def netns():
    """A factory: netns(n=1) makes a k8sharness.NetNS with n addresses; all are deleted after the test."""
    made = []

    def make(n=1):
        ns = k8sharness.NetNS(n)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.delete()


@pytest.fixture(autouse=True)
def _apiserver_back(request):
    """A test that stopped or froze the API server gets it back for the next one, even when it failed."""
    yield
    if "k8s" in request.fixturenames:
        cp = request.getfixturevalue("k8s")
        p = cp.procs.get("kube-apiserver")
        if p and p.proc and p.proc.poll() is None:
            p.thaw()
        elif p and p.proc:
            cp.start_apiserver()
