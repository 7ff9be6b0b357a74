#!/usr/bin/env python3
"""What endpoint churn costs the operator, on the real kube-apiserver: N FIXSessions, then K changes of an
EndpointSlice that no FIXSession targets (a pod elsewhere turning ready and not ready, what a busy cluster
does all day). For each binary, side by side in one run (the one under test and a baseline, e.g. a build
from before a change), it reports the operator's CPU time (utime + stime from /proc) over the churn, its
validation rounds (`pass_done`) and status passes (`status_pass_done`) in that interval, and CPU per change.
One control plane; one fresh namespace and operator (--namespace, the default debounce strategy) per binary.

    python3 bench/k8s/operator_churn.py [--count 2000] [--changes 20] [--binary build-release/fixgw]
                                        [--baseline OTHER/fixgw]
"""
import argparse
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
from operator_batch import GROUP, cpu_seconds, fixsession  # noqa: E402  (same directory)

GAP_S = 1.5  # between two changes: longer than the debounce window (0.5 s) and the status-pass spacing (1 s)


def all_ready(cp, ns, count):
    try:
        items = cp.get(f"{GROUP}/namespaces/{ns}/fixsessions")["items"]
    except k8sharness.ApiError as e:  # 429 "storage is (re)initializing" right after the CRD is installed
        if e.status in (429, 500, 503):
            return False
        raise
    if len(items) != count:
        return False
    for o in items:
        conds = {c["type"]: c for c in o.get("status", {}).get("conditions", [])}
        if conds.get("Ready", {}).get("status") != "True":
            return False
    return True


def run(cp, label, binary, count, changes, workdir):
    ns = cp.namespace(f"churn-{label}"[:20])
    cp.service(ns, "engine")
    cp.endpoint_slice(ns, "engine", "engine-1", ["192.0.2.40"])
    cp.service(ns, "elsewhere")
    cp.endpoint_slice(ns, "elsewhere", "elsewhere-1", ["192.0.2.50"])
    d = workdir / label
    d.mkdir()
    suffix = os.urandom(3).hex().upper()
    for i in range(count):
        (d / f"fs-{i:05d}.json").write_text(json.dumps(fixsession(f"fs-{i:05d}", f"CHURN{i}_{suffix}")))
    r = subprocess.run([str(cp.tools / "kubectl"), f"--kubeconfig={cp.kubeconfig}", "-n", ns, "apply", "-f",
                        str(d)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    proc = subprocess.Popen([binary, "operator", "--kubeconfig", str(cp.kubeconfig), "--namespace", ns,
                             "--lease-namespace", ns, "--id", "bench", "--log-level", "debug"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = JsonLines(proc.stderr, f"operator {label}")
    try:
        log.wait("leader_started", 60)
        k8sharness.wait_until(lambda: all_ready(cp, ns, count), 1800, 0.5, f"{count} FIXSessions Ready")
        time.sleep(3.0)  # the operator idle: what follows is the churn's work only
        cpu0 = cpu_seconds(proc.pid)
        rounds0, passes0 = len(log.select("pass_done")), len(log.select("status_pass_done"))
        t0 = time.time()
        for i in range(changes):
            cp.set_endpoints(ns, "elsewhere-1", [k8sharness.ControlPlane.endpoint("192.0.2.50", ready=i % 2 == 1)])
            time.sleep(GAP_S)
        time.sleep(GAP_S)  # the last change's work
        cpu1 = cpu_seconds(proc.pid)
        wall = time.time() - t0
        rounds = len(log.select("pass_done")) - rounds0
        passes = len(log.select("status_pass_done")) - passes0
        round_ms = [r.get("ms") for r in log.select("pass_done")[rounds0:] if "ms" in r]
        pass_ms = [r.get("ms") for r in log.select("status_pass_done")[passes0:] if "ms" in r]
    finally:
        proc.terminate()
        proc.wait(60)
        log.eof.wait(10)
        cp.delete_namespace(ns)
    return {"label": label, "binary": binary, "fixsessions": count, "changes": changes,
            "cpu_s": round(cpu1 - cpu0, 3), "cpu_ms_per_change": round((cpu1 - cpu0) * 1000 / changes, 1),
            "rounds": rounds, "status_passes": passes,
            "round_ms_median": sorted(round_ms)[len(round_ms) // 2] if round_ms else None,
            "status_pass_ms_median": sorted(pass_ms)[len(pass_ms) // 2] if pass_ms else None,
            "wall_s": round(wall, 1), "load": round(os.getloadavg()[0], 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--binary", default=str(ROOT / "build-release" / "fixgw"))
    ap.add_argument("--baseline", help="a second fixgw binary, measured the same way after the first")
    args = ap.parse_args()
    k8sharness.sweep_stale()
    runs = [("test", args.binary)] + ([("baseline", args.baseline)] if args.baseline else [])
    results = []
    with k8sharness.ControlPlane(controller_manager=False) as cp, \
            tempfile.TemporaryDirectory(prefix="fixgw-churn-") as wd:
        for label, binary in runs:
            res = run(cp, label, binary, args.count, args.changes, pathlib.Path(wd))
            results.append(res)
            print(f"{label:8} {res['fixsessions']} FIXSessions, {res['changes']} changes of an untargeted "
                  f"EndpointSlice: operator CPU {res['cpu_s']} s ({res['cpu_ms_per_change']} ms per change), "
                  f"{res['rounds']} rounds (median {res['round_ms_median']} ms), {res['status_passes']} status "
                  f"passes (median {res['status_pass_ms_median']} ms) (load {res['load']})", flush=True)
    for res in results:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
