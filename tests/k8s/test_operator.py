"""`fixgw operator` against the real kube-apiserver: Lease leader election (one leader, takeover, fencing of a
frozen leader seen in the API server's audit log), conflict validation with last-known-good (CRITICAL log,
Conflict condition, Event), and the status conditions (TargetResolvable follows the Service).

Every replica runs with its own ServiceAccount token and the RBAC rules the Helm chart gives the operator
(rendered by the pinned helm), so the audit log tells which replica wrote what and the chart's rules are
shown to be enough."""
import functools
import os
import pathlib
import subprocess
import tempfile

import pytest
import yaml

import k8sharness
from gwharness import JsonLines
from k8sharness import wait_until

CHART = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "helm" / "fix-gateway"

GROUP = "/apis/fixgw.io/v1alpha1"
# Short election timings so takeover tests take seconds, in the same ratios as client-go's 15/10/2 s.
FAST = ("--lease-ms", "3000", "--renew-deadline-ms", "2000", "--retry-ms", "500")


# The operator validates FIXSessions of every namespace as one set, and the session's control plane keeps
# other tests' objects (their namespaces are deleted in the background): every SenderCompID here carries a
# per-test suffix, so only the conflicts a test makes itself exist.
_run = {"suffix": ""}


@pytest.fixture(autouse=True)
def _unique_senders():
    _run["suffix"] = "_" + os.urandom(3).hex().upper()
    yield


def uid(sender):
    return sender + _run["suffix"]


def fixsession(name, sender, service="engine", port=None, port_name=None):
    p = {"name": port_name} if port_name else {"number": port or 9880}
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name},
            "spec": {"matchFields": {"SenderCompID49": {"value": uid(sender)}},
                     "target": {"service": {"name": service, "port": p}}}}


def fs_path(ns, name=""):
    return f"{GROUP}/namespaces/{ns}/fixsessions" + (f"/{name}" if name else "")


def condition(k8s, ns, name, ctype):
    obj = k8s.get(fs_path(ns, name), missing_ok=True) or {}
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == ctype), None)


def wait_condition(k8s, ns, name, ctype, status, reason=None, timeout=60):
    def ok():
        c = condition(k8s, ns, name, ctype)
        return c if c and c["status"] == status and (reason is None or c["reason"] == reason) else None
    return wait_until(ok, timeout, what=f"{ns}/{name} {ctype}={status} {reason or ''}")


@functools.lru_cache(maxsize=1)
def chart_rules():
    """The operator's rules from the chart: (ClusterRole rules, lease Role rules)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, XDG_CACHE_HOME=d, XDG_CONFIG_HOME=d, XDG_DATA_HOME=d)
        out = subprocess.run([str(k8sharness.tool("helm")), "template", "fgw", str(CHART)], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    objs = [o for o in yaml.safe_load_all(out) if o]
    comp = [o for o in objs if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "operator"]
    (cluster,) = [o for o in comp if o["kind"] == "ClusterRole"]
    (lease,) = [o for o in comp if o["kind"] == "Role"]
    return cluster["rules"], lease["rules"]


def grant_operator_rbac(k8s, ns, sa):
    cluster_rules, lease_rules = chart_rules()
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    subjects = [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]
    k8s.create(f"{rbac}/clusterroles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                        "metadata": {"name": f"{ns}-{sa}"}, "rules": cluster_rules})
    k8s.create(f"{rbac}/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": f"{ns}-{sa}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{ns}-{sa}"},
        "subjects": subjects})
    k8s.create(f"{rbac}/namespaces/{ns}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                                  "metadata": {"name": sa}, "rules": lease_rules})
    k8s.create(f"{rbac}/namespaces/{ns}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": sa},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa}, "subjects": subjects})
    # the authorizer learns new bindings through its own informers: wait until it allows what the operator
    # does first, so the operator's lists do not start with 403s and backoff on a busy machine
    user = f"system:serviceaccount:{ns}:{sa}"
    checks = [dict(group="fixgw.io", resource="fixsessions", verb="list"),
              dict(group="fixgw.io", resource="fixsessions", subresource="status", verb="update", namespace=ns),
              dict(group="events.k8s.io", resource="events", verb="create", namespace=ns),
              dict(group="coordination.k8s.io", resource="leases", verb="update", namespace=ns)]

    def allowed():
        for attrs in checks:
            r = k8s.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                                  "system:authenticated"], "resourceAttributes": attrs}})
            if not r.get("status", {}).get("allowed"):
                return False
        return True
    wait_until(allowed, 60, what=f"RBAC for {user}")


class Operator:
    """One `fixgw operator` replica, with its own ServiceAccount and the chart's RBAC, so its writes are its
    own in the audit log."""

    def __init__(self, k8s, tmp_path, ns, ident, *extra):
        from conftest import FIXGW
        sa = f"op-{ident}"
        token = k8s.service_account_token(ns, sa)
        grant_operator_rbac(k8s, ns, sa)
        self.user = f"system:serviceaccount:{ns}:{sa}"
        self.ident = ident
        kc = k8s.write_kubeconfig(tmp_path / f"kubeconfig-{ident}", user={"token": token})
        self.proc = subprocess.Popen([str(FIXGW), "operator", "--kubeconfig", str(kc), "--lease-namespace", ns,
                                      "--id", ident, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = JsonLines(self.proc.stderr, f"operator {ident}")

    def wait_log(self, event, timeout=30, **match):
        return self.log.wait(event, timeout, **match)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"operator {self.ident} did not stop within 30 s of SIGTERM")
        self.log.eof.wait(10)
        text = self.log.text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:"):
            assert marker not in text, f"sanitizer report from operator {self.ident}:\n{text[-4000:]}"
        assert self.proc.returncode in (0, -9), f"operator exited {self.proc.returncode}:\n{text[-3000:]}"


def operators(k8s, k8s_ns, tmp_path, *defaults):
    """A fixture's body: yields make(ident, *extra), which starts an Operator with defaults + extra; at the end
    stops every one made and deletes its cluster-wide RBAC."""
    made = []

    def make(ident, *extra):
        o = Operator(k8s, tmp_path, k8s_ns, ident, *defaults, *extra)
        made.append(o)
        return o

    yield make
    for o in made:
        o.stop()
    for o in made:
        for kind in ("clusterrolebindings", "clusterroles"):
            k8s.delete(f"/apis/rbac.authorization.k8s.io/v1/{kind}/{k8s_ns}-op-{o.ident}")


@pytest.fixture
def operator(k8s, k8s_ns, tmp_path):
    yield from operators(k8s, k8s_ns, tmp_path)


def lease_holder(k8s, ns):
    lease = k8s.get(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/fixgw-operator", missing_ok=True)
    return (lease or {}).get("spec", {}).get("holderIdentity")


def writes(k8s, op, resources=("fixsessions", "events")):
    return [e for e in k8s.audit_events(user=op.user) if e.get("objectRef", {}).get("resource") in resources]


def test_operator_help_and_bad_usage():
    from conftest import FIXGW
    r = subprocess.run([str(FIXGW), "operator", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--lease-namespace" in r.stdout and "--id" in r.stdout
    r = subprocess.run([str(FIXGW), "operator", "--lease-ms", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "--lease-ms" in r.stderr


def test_two_replicas_one_leader_and_takeover_when_killed(k8s, k8s_ns, operator):
    k8s.service(k8s_ns, "engine")
    k8s.create(fs_path(k8s_ns), fixsession("a", "BROKER_A"))
    a = operator("a", *FAST)
    a.wait_log("leader_started")
    b = operator("b", *FAST)
    b.wait_log("new_leader", holder="a")
    wait_condition(k8s, k8s_ns, "a", "Accepted", "True")
    assert lease_holder(k8s, k8s_ns) == "a"
    assert not b.log.select("leader_started")
    assert writes(k8s, a) and not writes(k8s, b)  # only the leader writes
    a.proc.kill()  # no release: b must wait out the lease (3 s) and take over
    a.proc.wait()
    b.wait_log("leader_started", timeout=3 + 2 + 10)  # lease + a retry period + slack for a busy machine
    assert lease_holder(k8s, k8s_ns) == "b"
    k8s.create(fs_path(k8s_ns), fixsession("b", "BROKER_B"))
    wait_condition(k8s, k8s_ns, "b", "Accepted", "True")
    assert any(e["objectRef"].get("name") == "b" for e in writes(k8s, b, ("fixsessions",)))


def test_frozen_leader_writes_nothing_after_it_lost_the_lease(k8s, k8s_ns, operator):
    """a leads and is frozen (SIGSTOP) past its lease; b takes over and is frozen in turn; a FIXSession is
    created; a wakes up. The Lease is b's for one more lease duration, so a must write nothing until it has
    taken the Lease again (its second leader_started): its audit events prove it."""
    k8s.service(k8s_ns, "engine")
    k8s.create(fs_path(k8s_ns), fixsession("x", "BROKER_X"))
    a = operator("a", *FAST)
    a.wait_log("leader_started")
    wait_condition(k8s, k8s_ns, "x", "Accepted", "True")
    b = operator("b", *FAST)
    b.wait_log("new_leader", holder="a")
    a.proc.send_signal(19)  # SIGSTOP, past its lease
    try:
        b.wait_log("leader_started", timeout=30)
        b.proc.send_signal(19)
        before = len(writes(k8s, a))
        k8s.create(fs_path(k8s_ns), fixsession("z", "BROKER_Z"))  # work a sees as soon as it wakes up
    finally:
        a.proc.send_signal(18)  # SIGCONT
    try:
        a.wait_log("leader_stopped")
        retaken = a.log.wait("leader_started", 30, count=2)[1]["ts"]
        early = [e for e in writes(k8s, a)[before:] if e["stageTimestamp"] < retaken]
        assert not early, early  # fenced: nothing between waking up and holding the Lease again
        wait_condition(k8s, k8s_ns, "z", "Accepted", "True")  # then it does its work
    finally:
        b.proc.send_signal(18)
    b.wait_log("leader_stopped")
    b.wait_log("new_leader", holder="a")
    assert not writes(k8s, b), writes(k8s, b)  # b woke up fenced as well
    assert lease_holder(k8s, k8s_ns) == "a"


def test_conflict_critical_condition_event_and_last_known_good(k8s, k8s_ns, operator):
    k8s.service(k8s_ns, "engine")
    k8s.create(fs_path(k8s_ns), fixsession("first", "BROKER_C"))
    op = operator("a", *FAST)
    op.wait_log("leader_started")
    wait_condition(k8s, k8s_ns, "first", "Accepted", "True")
    # a second FIXSession with the same SenderCompID: the later one is held back, both are marked
    k8s.create(fs_path(k8s_ns), fixsession("second", "BROKER_C"))
    held = wait_condition(k8s, k8s_ns, "second", "Accepted", "False", "Conflict")
    crit = wait_until(
        lambda: [r for r in op.log.select("route_conflict") if f"{k8s_ns}/second" in r.get("msg", "")], 30,
        what="the route_conflict line about this test's FIXSessions")[0]
    assert crit["level"] == "CRITICAL", crit
    assert f"{k8s_ns}/first" in crit["msg"] and f"{k8s_ns}/second" in crit["msg"]
    assert "SenderCompID" in crit["msg"] or "49" in crit["msg"]
    assert f"{k8s_ns}/first" in held["message"]
    c = wait_condition(k8s, k8s_ns, "second", "Conflict", "True", "RouteConflict")
    assert f"{k8s_ns}/first" in c["message"]
    wait_condition(k8s, k8s_ns, "first", "Conflict", "True")
    assert condition(k8s, k8s_ns, "first", "Accepted")["status"] == "True"  # the unchanged one stays

    def event():
        evs = k8s.get(f"/apis/events.k8s.io/v1/namespaces/{k8s_ns}/events")["items"]
        return [e for e in evs if e.get("reason") == "RouteConflict" and e["regarding"]["name"] == "second"]
    ev = wait_until(event, 30, what="RouteConflict Event")[0]
    assert ev["type"] == "Warning" and ev["reportingController"] == "fixgw.io/operator"
    assert f"{k8s_ns}/first" in ev["note"]

    # last-known-good: first changes to conflict with a third; its accepted version stays, the third updates
    k8s.patch(fs_path(k8s_ns, "second"), {"spec": {"matchFields": {"SenderCompID49": {"value": uid("BROKER_D")}}}})
    wait_condition(k8s, k8s_ns, "second", "Accepted", "True")  # resolved: both accepted
    wait_condition(k8s, k8s_ns, "second", "Conflict", "False")
    wait_condition(k8s, k8s_ns, "first", "Conflict", "False")
    assert condition(k8s, k8s_ns, "first", "Accepted")["status"] == "True"
    k8s.patch(fs_path(k8s_ns, "first"), {"spec": {"matchFields": {"SenderCompID49": {"value": uid("BROKER_D")}}}})
    kept = wait_condition(k8s, k8s_ns, "first", "Accepted", "False", "Conflict")
    assert "last-known-good" in kept["message"]
    assert condition(k8s, k8s_ns, "second", "Accepted")["status"] == "True"


def test_service_missing_then_created_and_named_port(k8s, k8s_ns, operator):
    k8s.create(fs_path(k8s_ns), fixsession("s", "BROKER_S", service="later"))
    k8s.create(fs_path(k8s_ns), fixsession("p", "BROKER_P", service="named", port_name="fix-tls"))
    k8s.service(k8s_ns, "named", ports=(("fix", 9880, 9880),))
    op = operator("a", *FAST)
    c = wait_condition(k8s, k8s_ns, "s", "TargetResolvable", "False", "ServiceNotFound")
    assert f"{k8s_ns}/later" in c["message"]
    w = op.wait_log("target_unresolvable", fixsession=f"{k8s_ns}/s")[0]
    assert w["level"] == "WARN", w
    assert condition(k8s, k8s_ns, "s", "Accepted")["status"] == "True"  # the route stays
    assert wait_condition(k8s, k8s_ns, "s", "Ready", "False")["reason"] == "ServiceNotFound"
    c = wait_condition(k8s, k8s_ns, "p", "TargetResolvable", "False", "PortNameNotFound")
    assert "fix-tls" in c["message"] and "fix=9880" in c["message"]

    k8s.service(k8s_ns, "later")
    c = wait_condition(k8s, k8s_ns, "s", "TargetResolvable", "True")
    assert c["observedGeneration"] == 1
    wait_condition(k8s, k8s_ns, "s", "EndpointsReady", "False", "NoReadyEndpoints")
    k8s.endpoint_slice(k8s_ns, "later", "later-1", [k8s.endpoint("10.9.9.9")], ports=(("fix", 9880),))
    wait_condition(k8s, k8s_ns, "s", "EndpointsReady", "True")
    wait_condition(k8s, k8s_ns, "s", "Ready", "True")
    obj = k8s.get(fs_path(k8s_ns, "s"))
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_status_written_only_on_change(k8s, k8s_ns, operator):
    k8s.service(k8s_ns, "engine")
    k8s.create(fs_path(k8s_ns), fixsession("q", "BROKER_Q"))
    op = operator("a", *FAST)
    wait_condition(k8s, k8s_ns, "q", "Accepted", "True")
    # only this namespace: a new operator also (re)writes the status of objects that earlier tests left in
    # namespaces still being deleted
    def ours():
        return [e["objectRef"]["name"] for e in writes(k8s, op, ("fixsessions",))
                if e["objectRef"].get("namespace") == k8s_ns]

    wait_until(lambda: "q" in ours(), 10, what="the first status write")
    n = len(ours())
    # an unrelated change makes the operator reconcile; nothing about q changed, so nothing is written
    k8s.service(k8s_ns, "unrelated")
    k8s.create(fs_path(k8s_ns), fixsession("r", "BROKER_R"))
    wait_condition(k8s, k8s_ns, "r", "Accepted", "True")
    assert ours()[n:] == ["r"]


def test_status_409_is_retried(k8s, k8s_ns, operator):
    """At 1 request/s the statuses of one round are written a second apart from the objects the round read;
    the last FIXSession is changed (a label: new resourceVersion) meanwhile, so its write meets 409 Conflict
    and is re-read and re-applied."""
    for i in range(5):
        k8s.create(fs_path(k8s_ns), fixsession(f"fs-{i}", f"BROKER_{i}", service="later"))
    op = operator("a", "--qps", "1", "--burst", "1")
    wait_condition(k8s, k8s_ns, "fs-0", "TargetResolvable", "False", timeout=60)
    assert condition(k8s, k8s_ns, "fs-4", "TargetResolvable") is None  # not written yet
    k8s.patch(fs_path(k8s_ns, "fs-4"), {"metadata": {"labels": {"touched": "yes"}}})
    wait_condition(k8s, k8s_ns, "fs-4", "TargetResolvable", "False", timeout=60)
    op.wait_log("k8s_conflict_retry")
    assert not op.log.select("status_write_failed")
    # this namespace's: a round at 1 request/s also rewrites lingering objects of earlier tests, which their
    # namespaces' deletion changes meanwhile
    conflicts = [e for e in k8s.audit_events(user=op.user, resource="fixsessions")
                 if e.get("responseStatus", {}).get("code") == 409 and e["objectRef"].get("namespace") == k8s_ns]
    assert [e["objectRef"]["name"] for e in conflicts] == ["fs-4"]


def test_api_server_restarted_watches_resume(k8s, k8s_ns, operator):
    """The API server goes away for longer than the renew deadline and comes back: the operator does not
    exit, holds or retakes the Lease, and reconciles what changed after the restart (its watches resumed)."""
    k8s.service(k8s_ns, "engine")
    k8s.create(fs_path(k8s_ns), fixsession("before", "BROKER_BEFORE"))
    op = operator("a", *FAST)
    wait_condition(k8s, k8s_ns, "before", "Accepted", "True")
    k8s.stop_apiserver()
    try:
        op.wait_log("leader_stopped", timeout=30)  # the renew deadline (2 s) passed without the API server
    finally:
        k8s.start_apiserver()
    assert op.proc.poll() is None, "the operator exited while the API server was down"
    k8s.create(fs_path(k8s_ns), fixsession("after", "BROKER_AFTER"))
    wait_condition(k8s, k8s_ns, "after", "Accepted", "True", timeout=90)  # watch backoff is at most 30 s
    assert lease_holder(k8s, k8s_ns) == "a"


def test_sigterm_ends_a_long_status_pass(k8s, k8s_ns, operator):
    """At 1 request/s a pass over 20 FIXSessions writes statuses for about 20 s; SIGTERM in the middle ends the
    pass at the next FIXSession and the operator exits cleanly, leaving the rest to the next leader (a pod's
    termination grace period is shorter than a pass of 10,000 writes)."""
    for i in range(20):
        k8s.create(fs_path(k8s_ns), fixsession(f"fs-{i}", f"BROKER_T{i}", service="later"))
    op = operator("a", "--qps", "1", "--burst", "1")
    wait_condition(k8s, k8s_ns, "fs-0", "TargetResolvable", "False", timeout=60)
    op.proc.terminate()
    op.wait_log("pass_interrupted")
    op.stop()  # exit status 0, within its 30 s
    written = [i for i in range(20) if condition(k8s, k8s_ns, f"fs-{i}", "TargetResolvable")]
    assert len(written) < 20, "the pass went on to the end after SIGTERM"
