"""`fixgw routes explain/check --kubeconfig` against the real kube-apiserver: the live FIXSessions are read
(one namespace or all of them) and explained or checked exactly as files would be; an unreachable API server
and credentials RBAC refuses get a clear message and exit status 2.

Every SenderCompID carries a per-test suffix: other tests' FIXSessions linger in the shared API server, so an
all-namespace check looks only for this test's own conflict."""
import json
import os
import subprocess

import k8sharness
from fixmsg import logon
from test_operator import fs_path


def fixsession(name, sender, service="engine"):
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name},
            "spec": {"matchFields": {"SenderCompID49": {"value": sender}},
                     "target": {"service": {"name": service, "port": {"number": 9880}}}}}


def routes(*args, stdin=b""):
    from conftest import FIXGW
    return subprocess.run([str(FIXGW), "routes", *map(str, args)], input=stdin, capture_output=True,
                          timeout=60)


def test_explain_and_check_read_the_live_fixsessions(k8s, k8s_ns, tmp_path):
    sfx = "_" + os.urandom(3).hex().upper()
    a, b = "BROKER_A" + sfx, "BROKER_B" + sfx
    k8s.create(fs_path(k8s_ns), fixsession("alpha", a, service="engine-a"))
    k8s.create(fs_path(k8s_ns), fixsession("beta", b, service="engine-b"))
    kc = k8s.kubeconfig

    p = routes("explain", "--kubeconfig", kc, "--namespace", k8s_ns, "--json", stdin=logon(sender=b))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["decision"] == "ROUTE" and out["route"] == f"{k8s_ns}/beta", out
    assert out["target"] == {"namespace": k8s_ns, "service": "engine-b", "port": 9880}
    p = routes("explain", "--kubeconfig", kc, "-n", k8s_ns, stdin=logon(sender=a))
    assert p.returncode == 0, p.stderr
    assert f"route:    {k8s_ns}/alpha -> service engine-a port 9880" in p.stdout.decode()
    p = routes("check", "--kubeconfig", kc, "--namespace", k8s_ns)
    assert p.returncode == 0 and p.stdout == b"2 FIXSessions valid, no conflicts\n", p

    # a conflict: exit status 1 and the compiler's message naming both (in one namespace and in all)
    k8s.create(fs_path(k8s_ns), fixsession("gamma", a))
    for scope in (("--namespace", k8s_ns), ()):
        p = routes("check", "--kubeconfig", kc, *scope)
        err = p.stderr.decode()
        assert p.returncode == 1, (scope, p)
        assert f"conflict: FIXSession {k8s_ns}/alpha (fixsession {k8s_ns}/alpha:1) and {k8s_ns}/gamma" in err, err
        assert "the set has conflicts" in err
    p = routes("explain", "--kubeconfig", kc, "--namespace", k8s_ns, stdin=logon(sender=a))
    assert p.returncode == 1 and b"conflict: FIXSession" in p.stderr


def test_unreachable_api_server_and_rbac_refusal(k8s, k8s_ns, tmp_path):
    port = k8sharness.free_port()  # nothing listens there
    kc = tmp_path / "unreachable"
    kc.write_text(k8s.kubeconfig.read_text().replace(k8s.server, f"https://127.0.0.1:{port}"))
    for cmd in (("check",), ("explain",)):
        p = routes(*cmd, "--kubeconfig", kc, stdin=logon())
        err = p.stderr.decode()
        assert p.returncode == 2, p
        assert err.startswith(f"fixgw routes {cmd[0]}: cannot reach the API server of kubeconfig {kc}"), err

    # a ServiceAccount with no role: 403 names the permission that is missing
    token = k8s.service_account_token(k8s_ns, "nobody")
    kc = k8s.write_kubeconfig(tmp_path / "nobody", user={"token": token})
    p = routes("check", "--kubeconfig", kc, "--namespace", k8s_ns)
    err = p.stderr.decode()
    assert p.returncode == 2, p
    assert f"refused to list FIXSessions in {k8s_ns} (HTTP 403 Forbidden)" in err, err
    assert "need the verb list on fixsessions.fixgw.io in that namespace" in err, err
    p = routes("explain", "--kubeconfig", kc, stdin=logon())
    assert p.returncode == 2 and b"in every namespace" in p.stderr, p
    # usage: files and a cluster are exclusive; --namespace needs --kubeconfig
    assert routes("check", "--kubeconfig", kc, "x.yaml").returncode == 2
    p = routes("check", "--namespace", k8s_ns, "x.yaml")
    assert p.returncode == 2 and b"--namespace needs --kubeconfig" in p.stderr
