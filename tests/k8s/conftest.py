"""Fixtures of the Kubernetes suite: one control plane for the whole session (k8s), a fresh namespace per test
(k8s_ns), and network namespaces for test engines (netns). Run it as its own pytest session
(`python3 -m pytest tests/k8s`).

tests/e2e/gwharness.py (Engine, Gateway, QuickFIX peers) imports `conftest` and means tests/e2e/conftest.py:
this file loads that one and takes over all its names and fixtures (fixgw, engines, gateways, FIXGW, ROOT,
missing_peer ...), so the e2e harness works here unchanged."""
import importlib.util
import pathlib
import sys

import pytest

_E2E = pathlib.Path(__file__).resolve().parents[1] / "e2e"
_spec = importlib.util.spec_from_file_location("_e2e_conftest", _E2E / "conftest.py")
_e2e_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e_conftest)
globals().update({k: v for k, v in vars(_e2e_conftest).items() if not k.startswith("__")})

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.append(str(_E2E))

import k8sharness  # noqa: E402


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
