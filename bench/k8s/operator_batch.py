#!/usr/bin/env python3
"""The operator's batch strategies (ADR-014) measured on the real kube-apiserver with `kubectl apply -f dir/`.

For each strategy (--batch-strategy debounce|per-object) and each batch:
  create  N new FIXSession files;
  mixed   N files against N/2 FIXSessions that exist already (accepted before the batch): N/2 updates (a new
          SenderCompID) and N/2 creates, one of which takes the SenderCompID an update also takes (a conflict).
it reports the time from the start of `kubectl apply -f dir/` until every FIXSession's status says
observedGeneration == metadata.generation with Accepted=True (the conflicting pair: Accepted at the current
generation and Conflict=True), the operator's passes, status writes and API requests (the API server's audit
log, every verb) in that interval, the operator's CPU time (utime + stime from /proc), and the gaps between
kubectl's consecutive writes (what a debounce window must cover). One control plane, one fresh namespace and
operator per run; the operator runs with the chart's RBAC under its own ServiceAccount.

    python3 bench/k8s/operator_batch.py [--count 1000] [--binary build-release/fixgw]
                                        [--strategies debounce,per-object] [--batches create,mixed]
"""
import argparse
import calendar
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "k8s"), str(ROOT / "tests" / "e2e")]
os.environ.setdefault("FIXGW_ROOT", str(ROOT))

import k8sharness  # noqa: E402
from gwharness import JsonLines  # noqa: E402
from test_operator import grant_operator_rbac  # noqa: E402

GROUP = "/apis/fixgw.io/v1alpha1"
TICK = os.sysconf("SC_CLK_TCK")


class AuditAll(k8sharness.ControlPlane):
    """The harness's control plane with every request audited (reads and watches too), at Metadata level."""

    def _audit_policy(self):
        p = self.dir / "audit-policy.yaml"
        p.write_text(json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                 "omitStages": ["RequestReceived"], "rules": [{"level": "Metadata"}]}))
        return p

    def requests(self, user, since, until):
        out = []
        for line in self.audit_log.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("user", {}).get("username") != user or ev.get("stage") not in ("ResponseComplete",
                                                                                    "ResponseStarted"):
                continue
            # a watch is logged when its response starts (and again when it ends): count it once
            if ev["stage"] == "ResponseComplete" and ev.get("verb") == "watch":
                continue
            t = ev["requestReceivedTimestamp"]
            if since <= t <= until:
                out.append(ev)
        return out


def fixsession(name, sender):
    return {"apiVersion": "fixgw.io/v1alpha1", "kind": "FIXSession", "metadata": {"name": name},
            "spec": {"matchFields": {"SenderCompID49": {"value": sender}},
                     "target": {"service": {"name": "engine", "port": {"number": 9880}}}}}


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def parse_ts(s):
    """An RFC 3339 UTC time with a fraction (log lines, audit events) as seconds since the epoch."""
    frac = s[19:].rstrip("Z")
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + (float(frac) if frac else 0.0)


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def settled(cp, ns, conflicting):
    """(done, accepted): every FIXSession's status is current; all but the conflicting ones Accepted=True."""
    try:
        items = cp.get(f"{GROUP}/namespaces/{ns}/fixsessions")["items"]
    except k8sharness.ApiError as e:  # 429 "storage is (re)initializing" right after the CRD is installed
        if e.status in (429, 500, 503):
            return False, 0
        raise
    accepted = 0
    for o in items:
        gen = o["metadata"]["generation"]
        st = o.get("status", {})
        conds = {c["type"]: c for c in st.get("conditions", [])}
        acc = conds.get("Accepted")
        if st.get("observedGeneration") != gen or not acc or acc["observedGeneration"] != gen:
            return False, accepted
        if o["metadata"]["name"] in conflicting:
            if conds["Conflict"]["status"] != "True":
                return False, accepted
        elif acc["status"] != "True":
            return False, accepted
        accepted += acc["status"] == "True"
    return True, accepted


def percentile(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0


def run(cp, binary, strategy, batch, count, workdir, extra):
    ns = cp.namespace(f"{batch}-{strategy}"[:20])
    suffix = os.urandom(3).hex().upper()
    cp.service(ns, "engine")
    conflicting = set()
    existing = count // 2 if batch == "mixed" else 0
    for i in range(existing):
        cp.create(f"{GROUP}/namespaces/{ns}/fixsessions", fixsession(f"fs-{i:05d}", f"OLD{i}_{suffix}"))
    d = workdir / f"{batch}-{strategy}"
    d.mkdir()
    for i in range(count):
        sender = f"NEW{i}_{suffix}"
        if batch == "mixed" and i == count - 1:  # a create that takes the SenderCompID of an update
            sender = f"NEW1_{suffix}"
            conflicting = {f"fs-{1:05d}", f"fs-{i:05d}"}
        (d / f"fs-{i:05d}.yaml").write_text(json.dumps(fixsession(f"fs-{i:05d}", sender)))

    sa = "op-bench"
    token = cp.service_account_token(ns, sa)
    grant_operator_rbac(cp, ns, sa)
    user = f"system:serviceaccount:{ns}:{sa}"
    kc = cp.write_kubeconfig(workdir / f"kubeconfig-{ns}", user={"token": token})
    proc = subprocess.Popen([binary, "operator", "--kubeconfig", str(kc), "--lease-namespace", ns, "--id", "bench",
                             "--batch-strategy", strategy, "--log-level", "debug", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = JsonLines(proc.stderr, f"operator {strategy}")
    try:
        log.wait("leader_started", 60)
        k8sharness.wait_until(lambda: settled(cp, ns, set()) == (True, existing), 300, 0.2,
                              "the FIXSessions before the batch accepted")
        time.sleep(1.0)  # let the operator go idle: what follows is the batch's work only
        cpu0, npass0 = cpu_seconds(proc.pid), len(log.select("pass_done"))
        t0 = time.time()
        r = subprocess.run([str(cp.tools / "kubectl"), f"--kubeconfig={cp.kubeconfig}", "-n", ns, "apply", "-f",
                            str(d)], capture_output=True, text=True, timeout=1800)
        t_apply = time.time()
        assert r.returncode == 0, r.stderr[-2000:]
        accepted = 0
        while True:
            done, accepted = settled(cp, ns, conflicting)
            if done and len(log.select("pass_done")) > npass0:
                break
            if time.time() - t0 > 1800:
                raise AssertionError(f"{strategy}/{batch}: not settled after 30 min")
            time.sleep(0.1)
        t_done = time.time()
        tables = [r for r in log.select("routes_validated") if parse_ts(r["ts"]) >= t0]
        t_table = parse_ts(tables[-1]["ts"]) if tables else t_done
        cpu1 = cpu_seconds(proc.pid)
        passes = len(log.select("pass_done")) - npass0
        time.sleep(2.0)  # what the operator still does after the statuses are right (trailing passes)
        trailing = len(log.select("pass_done")) - npass0 - passes
    finally:
        proc.terminate()
        proc.wait(60)
        log.eof.wait(10)
    reqs = cp.requests(user, rfc3339(t0), rfc3339(t_done))
    by = {}
    for ev in reqs:
        res = ev.get("objectRef", {}).get("resource", "?") + ("/" + ev["objectRef"]["subresource"]
                                                              if ev.get("objectRef", {}).get("subresource") else "")
        k = f"{ev['verb']} {res}"
        by[k] = by.get(k, 0) + 1
    status_writes = sum(v for k, v in by.items() if k.startswith("update fixsessions/status"))
    conflicts409 = sum(1 for ev in reqs if ev.get("responseStatus", {}).get("code") == 409)
    writes = sorted(ev["requestReceivedTimestamp"] for ev in cp.requests("admin", rfc3339(t0), rfc3339(t_apply))
                    if ev.get("verb") in ("create", "patch")
                    and ev.get("objectRef", {}).get("resource") == "fixsessions")

    gaps = sorted((parse_ts(b) - parse_ts(a)) * 1000 for a, b in zip(writes, writes[1:]))
    return {"strategy": strategy, "batch": batch, "files": count, "existing": existing,
            "apply_s": round(t_apply - t0, 2), "validated_s": round(t_table - t0, 2),
            "tables": len(tables), "settled_s": round(t_done - t0, 2),
            "after_apply_s": round(t_done - t_apply, 2), "passes": passes, "trailing_passes": trailing,
            "status_writes": status_writes, "conflicts_409": conflicts409, "api_requests": len(reqs),
            "requests_by_kind": by, "cpu_s": round(cpu1 - cpu0, 2), "accepted": accepted,
            "kubectl_writes": len(writes), "gap_p50_ms": round(percentile(gaps, 0.5), 1),
            "gap_p99_ms": round(percentile(gaps, 0.99), 1), "gap_max_ms": round(gaps[-1] if gaps else 0, 1),
            "load": round(os.getloadavg()[0], 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--binary", default=str(ROOT / "build-release" / "fixgw"))
    ap.add_argument("--strategies", default="debounce,per-object")
    ap.add_argument("--batches", default="create,mixed")
    ap.add_argument("--operator-arg", action="append", default=[], help="extra operator argument (repeatable)")
    args = ap.parse_args()
    k8sharness.sweep_stale()
    results = []
    with AuditAll(controller_manager=False) as cp, tempfile.TemporaryDirectory(prefix="fixgw-batch-") as wd:
        k8sharness.wait_until(lambda: settled(cp, "default", set())[0], 120, 0.2, "the FIXSession storage ready")
        for batch in args.batches.split(","):
            for strategy in args.strategies.split(","):
                res = run(cp, args.binary, strategy, batch, args.count, pathlib.Path(wd), args.operator_arg)
                results.append(res)
                print(f"{strategy:10} {batch:6} {res['files']} files: apply {res['apply_s']} s, last table "
                      f"{res['validated_s']} s ({res['tables']} tables), statuses settled {res['settled_s']} s, "
                      f"{res['passes']} passes (+{res['trailing_passes']} after), "
                      f"{res['status_writes']} status writes ({res['conflicts_409']} x 409), "
                      f"{res['api_requests']} API requests, CPU {res['cpu_s']} s; kubectl write gaps p50 "
                      f"{res['gap_p50_ms']} ms p99 {res['gap_p99_ms']} ms max {res['gap_max_ms']} ms "
                      f"(load {res['load']})", flush=True)
    for res in results:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
