"""End-to-end tests of the Kubernetes client (src/k8s) against the real kube-apiserver and etcd of the test
harness, through `fixgw k8s`: list+watch with synced state, pagination, 410 Gone after compaction, an API
server restarted or frozen mid-watch, an oversized event, 409 Conflict retried, the status subresource and
Events. Every wait is for a condition, never a fixed sleep."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import FIXGW  # the fixgw binary under test


def fixsession(ns, name, sender="BROKER_A", annotations=None):
    md = {"name": name, "namespace": ns}
    if annotations:
        md["annotations"] = annotations
    return {
        "apiVersion": "fixgw.io/v1alpha1",
        "kind": "FIXSession",
        "metadata": md,
        "spec": {
            "matchFields": {"SenderCompID49": {"value": sender}},
            "target": {"service": {"name": "engine-svc", "port": {"number": 9880}}},
        },
    }


class Fixgw:
    """`fixgw k8s VERB` as a subprocess: stdout JSON lines (cache changes, election events) and stderr JSON
    log lines collected by threads; wait_* methods wait on the collected lines until a condition holds."""

    def __init__(self, kubeconfig, *args, env=None):
        self.lines, self.logs = [], []
        self.cv = threading.Condition()
        auth = ["--kubeconfig", kubeconfig] if kubeconfig else []
        self.proc = subprocess.Popen([str(FIXGW), "k8s", *args, *auth], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, self.logs), daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self, stream, out):
        for raw in stream:
            try:
                item = json.loads(raw)
            except ValueError:
                item = {"raw": raw.decode(errors="replace")}
            with self.cv:
                out.append(item)
                self.cv.notify_all()

    def wait(self, pred, source="lines", timeout=60, what="condition"):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                items = getattr(self, source)
                hit = [x for x in items if pred(x)]
                if hit:
                    return hit[-1]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"timed out waiting for {what}; lines={self.lines[-20:]} "
                                         f"logs={self.logs[-20:]}")
                self.cv.wait(min(left, 0.5))

    def wait_event(self, event, key, timeout=60):
        return self.wait(lambda x: x.get("event") == event and x.get("key") == key, timeout=timeout,
                         what=f"{event} {key}")

    def wait_log(self, event, timeout=60, pred=lambda x: True):
        return self.wait(lambda x: x.get("event") == event and pred(x), source="logs", timeout=timeout,
                         what=f"log {event}")

    def cache(self):
        """The watcher's view: key -> rv, replayed from its change lines."""
        state = {}
        with self.cv:
            for x in self.lines:
                if x.get("event") in ("ADDED", "UPDATED"):
                    state[x["key"]] = x["rv"]
                elif x.get("event") == "DELETED":
                    state.pop(x["key"], None)
        return state

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        for t in self.threads:
            t.join(timeout=5)
        assert rc == 0, f"fixgw k8s watch exited {rc}; logs={self.logs[-20:]}"


@pytest.fixture
def ns(k8s_ns):
    return k8s_ns


@pytest.fixture
def cluster(k8s):
    return k8s


def kubectl(cluster, *args):
    return cluster.kubectl(*args).stdout


@pytest.fixture
def watchers():
    started = []
    yield started
    for w in started:
        w.stop()


def watch(cluster, watchers, *args):
    w = Fixgw(str(cluster.kubeconfig), "watch", "--resource", "fixsessions", *args)
    watchers.append(w)
    return w


def k8s(cluster, *args, check=True):
    p = subprocess.run([str(FIXGW), "k8s", *args, "--kubeconfig", str(cluster.kubeconfig)], capture_output=True,
                       timeout=60)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def live_keys(cluster, ns):
    out = json.loads(kubectl(cluster, "get", "fixsessions", "-n", ns, "-o", "json"))
    return {f"{ns}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in out["items"]}


def test_list_watch_add_update_delete_and_synced(cluster, ns, watchers):
    cluster.apply(fixsession(ns, "before"))
    w = watch(cluster, watchers, "-n", ns)
    synced = w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED")
    assert synced["count"] == 1
    assert w.lines[0]["event"] == "ADDED" and w.lines[0]["key"] == f"{ns}/before"  # the list, before SYNCED
    w.wait_log("k8s_synced")

    cluster.apply(fixsession(ns, "s1"))
    w.wait_event("ADDED", f"{ns}/s1")
    cluster.apply(fixsession(ns, "s1", sender="BROKER_B"))
    upd = w.wait_event("UPDATED", f"{ns}/s1")
    cluster.kubectl("delete", "fixsession", "s1", "-n", ns)
    w.wait_event("DELETED", f"{ns}/s1")
    assert upd["rv"] != w.wait_event("ADDED", f"{ns}/s1")["rv"]
    assert w.cache() == live_keys(cluster, ns)


def test_in_cluster_token_file_reread_when_rotated(cluster, ns, watchers, tmp_path):
    sa = tmp_path / "serviceaccount"
    env = dict(os.environ, **cluster.in_cluster_files(sa, token="not-a-valid-token", namespace=ns))
    env.pop("KUBECONFIG", None)
    cluster.apply(fixsession(ns, "seen"))
    w = Fixgw(None, "watch", "--resource", "fixsessions", "-n", ns, "--service-account-dir", str(sa), env=env)
    watchers.append(w)
    w.wait_log("k8s_list_failed", pred=lambda x: "Unauthorized" in x.get("error", ""))
    # the kubelet rotates a projected token by swapping the file: the client must pick it up, no restart
    (sa / "token.new").write_text(cluster.token)
    os.rename(sa / "token.new", sa / "token")
    synced = w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED after the rotation")
    assert synced["count"] == 1
    raw = json.dumps(w.logs) + json.dumps(w.lines)
    assert cluster.token not in raw and "not-a-valid-token" not in raw


def test_pagination_limit_2_over_10_objects(cluster, ns, watchers):
    for i in range(10):
        cluster.apply(fixsession(ns, f"p{i}"))
    w = watch(cluster, watchers, "-n", ns, "--page-size", "2", "--log-level", "debug")
    synced = w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED")
    assert synced["count"] == 10
    assert synced["pages"] == 5  # limit=2 over 10 objects: five pages, following metadata.continue
    # the page lines come on stderr, read by another thread than the SYNCED line: wait for them
    w.wait(lambda x: x.get("event") == "k8s_list_page" and "list page 5:" in x.get("msg", ""), source="logs",
           what="the fifth page's log line")
    with w.cv:
        assert len([x for x in w.logs if x.get("event") == "k8s_list_page"]) == 5
    assert w.cache() == live_keys(cluster, ns)


def test_apiserver_restart_watch_resumes_nothing_lost(cluster, ns, watchers):
    w = watch(cluster, watchers, "-n", ns)
    w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED")
    cluster.apply(fixsession(ns, "before-stop"))
    w.wait_event("ADDED", f"{ns}/before-stop")

    cluster.stop_apiserver()
    w.wait_log("k8s_watch_failed")  # the stream broke: a clear line, then backoff and retries
    cluster.start_apiserver()
    # changed as soon as the API server is back, while the watcher may still be backing off
    cluster.apply(fixsession(ns, "after-restart"))
    cluster.kubectl("delete", "fixsession", "before-stop", "-n", ns)
    w.wait_event("ADDED", f"{ns}/after-restart", timeout=120)
    w.wait_event("DELETED", f"{ns}/before-stop", timeout=120)
    assert w.cache() == live_keys(cluster, ns)
    assert w.proc.poll() is None


def test_410_gone_after_compaction_relists(cluster, ns, watchers):
    cluster.apply(fixsession(ns, "keep"))
    cluster.apply(fixsession(ns, "gone"))
    w = watch(cluster, watchers, "-n", ns)
    w.wait(lambda x: x.get("event") == "SYNCED" and x.get("count") == 2, what="SYNCED with 2")
    # freeze the client at its resourceVersion, change the world, restart the API server on a compacted etcd:
    # the client's resourceVersion is then older than anything the API server can serve
    w.proc.send_signal(signal.SIGSTOP)
    try:
        cluster.kubectl("delete", "fixsession", "gone", "-n", ns)
        cluster.apply(fixsession(ns, "new"))
        for i in range(5):
            cluster.apply(fixsession(ns, "keep", sender=f"BROKER_K{i}"))
        cluster.stop_apiserver()
        cluster.compact_etcd()
        cluster.start_apiserver()
    finally:
        w.proc.send_signal(signal.SIGCONT)
    w.wait(lambda x: x.get("event") == "k8s_watch_gone" or
           (x.get("event") == "k8s_watch_error" and "code 410" in x.get("msg", "")),
           source="logs", timeout=120, what="410 Gone")
    w.wait_log("k8s_relisted", timeout=120)
    w.wait_event("DELETED", f"{ns}/gone")
    w.wait_event("ADDED", f"{ns}/new")
    # SYNCED is on stdout, k8s_relisted on stderr (read by another thread): wait for the second list's line
    w.wait(lambda x: x.get("event") == "SYNCED" and x.get("lists", 0) >= 2, what="SYNCED of the relist")
    assert w.cache() == live_keys(cluster, ns)


def test_frozen_apiserver_stall_detected_and_recovered(cluster, ns, watchers):
    w = watch(cluster, watchers, "-n", ns, "--watch-timeout", "2", "--stall-slack-ms", "1000")
    w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED")
    cluster.procs["kube-apiserver"].freeze()
    try:
        w.wait_log("k8s_watch_failed", pred=lambda x: "stalled" in x.get("error", "") or
                   "timed out" in x.get("error", "").lower(), timeout=60)
    finally:
        cluster.procs["kube-apiserver"].thaw()
    cluster.apply(fixsession(ns, "after-thaw"))
    w.wait_event("ADDED", f"{ns}/after-thaw", timeout=120)
    assert w.cache() == live_keys(cluster, ns)


def test_oversized_event_skipped_then_relisted(cluster, ns, watchers):
    w = watch(cluster, watchers, "-n", ns, "--max-event-bytes", "4096")
    w.wait(lambda x: x.get("event") == "SYNCED", what="SYNCED")
    cluster.apply(fixsession(ns, "big", annotations={"pad": "x" * 8000}))
    w.wait_log("k8s_event_too_large")
    w.wait_log("k8s_relisted")
    w.wait_event("ADDED", f"{ns}/big")  # the list path is not bounded by the event bound
    cluster.apply(fixsession(ns, "small"))
    w.wait_event("ADDED", f"{ns}/small")


def test_update_409_conflict_retried(cluster, ns):
    cluster.apply(fixsession(ns, "c"))
    rv0 = json.loads(kubectl(cluster, "get", "fixsession", "c", "-n", ns, "-o", "json"))["metadata"]["resourceVersion"]
    cluster.kubectl("label", "fixsession", "c", "-n", ns, "changed=yes")  # the object moves on past rv0
    p = k8s(cluster, "update", "--resource", "fixsessions", "-n", ns, "--name", "c", "--resource-version", rv0,
            "--merge", json.dumps({"metadata": {"annotations": {"fixgw.io/note": "merged"}}}))
    logs = [json.loads(x) for x in p.stderr.splitlines() if x.startswith(b"{")]
    assert any(x["event"] == "k8s_conflict_retry" for x in logs), p.stderr
    obj = json.loads(kubectl(cluster, "get", "fixsession", "c", "-n", ns, "-o", "json"))
    assert obj["metadata"]["annotations"]["fixgw.io/note"] == "merged"
    assert obj["metadata"]["labels"]["changed"] == "yes"  # the other writer's change was kept


def test_json_patch_resource_version_test_refused(cluster, ns):
    cluster.apply(fixsession(ns, "d"))
    p = k8s(cluster, "patch", "--resource", "fixsessions", "-n", ns, "--name", "d", "--json-patch",
            json.dumps([{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]), check=False)
    assert p.returncode == 1
    assert b"k8s_request_failed" in p.stderr


def test_status_subresource_write(cluster, ns):
    cluster.apply(fixsession(ns, "st"))
    status = {"status": {"observedGeneration": 1, "activeConnections": 3,
                         "conditions": [{"type": "Accepted", "status": "True", "reason": "Validated",
                                         "message": "in the routing table",
                                         "lastTransitionTime": "2026-12-01T00:00:00Z"}]}}
    k8s(cluster, "update", "--resource", "fixsessions", "-n", ns, "--name", "st", "--status",
        "--merge", json.dumps(status))
    obj = json.loads(kubectl(cluster, "get", "fixsession", "st", "-n", ns, "-o", "json"))
    assert obj["status"]["activeConnections"] == 3
    assert obj["status"]["conditions"][0]["type"] == "Accepted"
    # a status patch through the subresource, and a main-resource write does not touch status
    k8s(cluster, "patch", "--resource", "fixsessions", "-n", ns, "--name", "st", "--status",
        "--merge", json.dumps({"status": {"activeConnections": 5}}))
    k8s(cluster, "patch", "--resource", "fixsessions", "-n", ns, "--name", "st",
        "--merge", json.dumps({"status": {"activeConnections": 99}}))
    obj = json.loads(kubectl(cluster, "get", "fixsession", "st", "-n", ns, "-o", "json"))
    assert obj["status"]["activeConnections"] == 5


def test_event_created(cluster, ns):
    cluster.apply(fixsession(ns, "ev"))
    k8s(cluster, "event", "--resource", "fixsessions", "-n", ns, "--name", "ev", "--type", "Warning",
        "--reason", "RouteConflict", "--action", "Validate", "--note", "conflicts with other/route")
    out = json.loads(kubectl(cluster, "get", "events.events.k8s.io", "-n", ns, "-o", "json"))
    evs = [e for e in out["items"] if e.get("reason") == "RouteConflict"]
    assert evs and evs[0]["regarding"]["name"] == "ev" and evs[0]["regarding"]["kind"] == "FIXSession"
    assert evs[0]["type"] == "Warning" and evs[0]["note"] == "conflicts with other/route"


def elect(cluster, watchers, ns, ident, *extra):
    p = Fixgw(str(cluster.kubeconfig), "elect", "-n", ns, "--name", "fixgw-operator", "--id", ident,
              "--lease-ms", "3000", "--renew-deadline-ms", "2000", "--retry-ms", "500", *extra)
    watchers.append(p)
    return p


def test_leader_election_release_on_shutdown_hands_over(cluster, ns, watchers):
    a = elect(cluster, watchers, ns, "a")
    a.wait(lambda x: x.get("event") == "STARTED_LEADING", what="a leads")
    b = elect(cluster, watchers, ns, "b")
    b.wait(lambda x: x.get("event") == "NEW_LEADER" and x.get("holder") == "a", what="b sees a")
    watchers.remove(a)
    a.stop()  # clean shutdown releases the Lease
    assert any(x.get("event") == "lease_released" for x in a.logs), a.logs
    b.wait(lambda x: x.get("event") == "STARTED_LEADING", what="b takes over")
    lease = json.loads(kubectl(cluster, "get", "lease", "fixgw-operator", "-n", ns, "-o", "json"))
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] >= 1


def test_frozen_leader_writes_nothing_after_losing_the_lease(cluster, ns, watchers):
    cluster.kubectl("create", "configmap", "fence", "-n", ns)
    a = elect(cluster, watchers, ns, "a", "--write-configmap", "fence")
    a.wait(lambda x: x.get("event") == "WROTE", what="a writes")
    b = elect(cluster, watchers, ns, "b", "--write-configmap", "fence")
    b.wait(lambda x: x.get("event") == "NEW_LEADER" and x.get("holder") == "a", what="b sees a")
    # freeze a right after one of its writes (its writer then sleeps 100 ms), past its lease
    with a.cv:
        seen = sum(1 for x in a.lines if x.get("event") == "WROTE")
    a.wait(lambda x: x.get("event") == "WROTE" and int(x["seq"]) > seen, what="a writes again")
    a.proc.send_signal(signal.SIGSTOP)
    with a.cv:
        wrote_before = sum(1 for x in a.lines if x.get("event") == "WROTE")
    try:
        b.wait(lambda x: x.get("event") == "STARTED_LEADING", what="b takes over", timeout=60)
        b.wait(lambda x: x.get("event") == "WROTE", what="b writes")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    a.wait(lambda x: x.get("event") == "STOPPED_LEADING", what="a notices it lost")
    b.wait(lambda x: x.get("event") == "WROTE" and int(x["seq"]) >= 5, what="b keeps writing")
    with a.cv:
        wrote_after = sum(1 for x in a.lines if x.get("event") == "WROTE")
    assert wrote_after == wrote_before  # fenced: nothing written once the renew deadline had passed
    cm = json.loads(kubectl(cluster, "get", "configmap", "fence", "-n", ns, "-o", "json"))
    assert cm["data"]["holder"] == "b"
