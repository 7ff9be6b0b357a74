"""The client against a real kube-apiserver that sheds load with 429 Too Many Requests: max-in-flight 1 with
priority and fairness off, a service account's token (system:masters is exempt from the limit) and curl
processes keeping the one read slot busy with lists. Every 429 must give one clear k8s_throttled line and a
retry after Retry-After, never a crash; an informer started under that load syncs once it is gone."""
import json
import subprocess

import pytest

import k8sharness
from conftest import FIXGW
from test_k8s_client import Fixgw, fixsession

OBJECTS = 500  # enough that one list keeps the API server's only slot busy for a while


@pytest.fixture(scope="module")
def shedding(k8s_tools):
    cp = k8sharness.ControlPlane(k8s_tools, controller_manager=False, apiserver_args=[
        "--enable-priority-and-fairness=false", "--max-requests-inflight=1", "--max-mutating-requests-inflight=1"])
    try:
        cp.start()
    except BaseException:
        cp.stop()
        raise
    yield cp
    cp.stop()


def reader(cp, ns, path):
    """A kubeconfig for a service account that may read FIXSessions in ns, and its token."""
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns
    cp.create(rbac + "/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                "metadata": {"name": "reader"},
                                "rules": [{"apiGroups": ["fixgw.io"], "resources": ["fixsessions"],
                                           "verbs": ["get", "list", "watch"]}]})
    cp.create(rbac + "/rolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                       "metadata": {"name": "reader"},
                                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                   "name": "reader"},
                                       "subjects": [{"kind": "ServiceAccount", "name": "reader",
                                                     "namespace": ns}]})
    token = cp.service_account_token(ns, "reader")
    return cp.write_kubeconfig(path, user={"token": token}), token


def get(kc, ns, name):
    return subprocess.run([str(FIXGW), "k8s", "get", "--resource", "fixsessions", "-n", ns, "--name", name,
                           "--kubeconfig", str(kc)], capture_output=True, timeout=120)


def test_429_is_a_clear_line_and_a_retry_never_a_crash(shedding, tmp_path):
    cp = shedding
    ns = cp.namespace("thr")
    kc, token = reader(cp, ns, tmp_path / "kubeconfig")
    cp.apply([fixsession(ns, f"s{i}", sender=f"S{i}") for i in range(OBJECTS)])
    url = f"{cp.server}/apis/fixgw.io/v1alpha1/namespaces/{ns}/fixsessions"
    loop = (f"while :; do curl -s -o /dev/null --cacert {cp.ca} -H 'Authorization: Bearer {token}' {url}; "
            "done")
    hammer = [subprocess.Popen(["bash", "-c", loop]) for _ in range(4)]
    w = None
    try:
        throttled = None
        for _ in range(60):
            p = get(kc, ns, "s1")
            assert p.returncode in (0, 1), p.stderr  # an answer or a clear failure, whatever came back
            if b"k8s_throttled" in p.stderr:
                throttled = p
                break
        assert throttled is not None, "no 429 in 60 requests under load"
        line = next(json.loads(x) for x in throttled.stderr.splitlines() if b"k8s_throttled" in x)
        assert line["status"] == 429 and line["retry_after_ms"] >= 1000 and line["level"] == "WARN"
        w = Fixgw(str(kc), "watch", "--resource", "fixsessions", "-n", ns)
    finally:
        for h in hammer:
            h.kill()
            h.wait()
    try:
        w.wait(lambda x: x.get("event") == "SYNCED" and x.get("count") == OBJECTS, timeout=120,
               what="SYNCED once the load is gone")
    finally:
        w.stop()
    assert get(kc, ns, "s1").returncode == 0
