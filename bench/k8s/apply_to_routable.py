#!/usr/bin/env python3
"""Apply-to-routable latency of the gateway's Kubernetes mode against the real kube-apiserver.

For N FIXSessions created one after another through the API, the time from the API server's answer to the
create until a Logon with that FIXSession's SenderCompID is echoed by the engine behind its Service (the
engine lives in a network namespace; its Service is selectorless with a hand-made EndpointSlice). Prints
p50/p90/p99/max and one JSON line. Needs root (network namespaces) and `make tools`.

--routes direct (default): the gateway watches FIXSessions and compiles them itself (one watch hop).
--routes published: `fixgw operator` validates them and publishes the routing table (ConfigMap shards and an
index, ADR-010), the gateway follows the index: two watch hops, the operator's batch window (--batch-strategy
and --debounce-ms, passed on with --operator-arg) and its writes included.

    python3 bench/k8s/apply_to_routable.py [--count 200] [--binary build-release/fixgw] [--routes published]
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "k8s"), str(ROOT / "tests" / "e2e")]
os.environ.setdefault("FIXGW_ROOT", str(ROOT))

import k8sharness  # noqa: E402
from gwharness import JsonLines  # noqa: E402
from k8sgateway import GROUP, K8sGateway, fixsession, selectorless_service, wait_routed  # noqa: E402


def percentile(sorted_samples, q):
    return sorted_samples[min(len(sorted_samples) - 1, int(q * len(sorted_samples)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--binary", default=str(ROOT / "build-release" / "fixgw"))
    ap.add_argument("--routes", choices=("direct", "published"), default="direct")
    ap.add_argument("--operator-arg", action="append", default=[],
                    help="an extra argument of fixgw operator (repeat), e.g. --operator-arg=--debounce-ms=100")
    args = ap.parse_args()
    k8sharness.sweep_stale()
    with k8sharness.ControlPlane() as cp:
        ns = cp.namespace("bench")
        net = k8sharness.NetNS(1)
        gw = op = None
        work = pathlib.Path(tempfile.mkdtemp(prefix="fixgw-bench-"))
        try:
            net.engine()
            selectorless_service(cp, ns, "svc", [net.addr])
            if args.routes == "published":
                kc = cp.write_kubeconfig(work / "operator-kubeconfig")
                op = subprocess.Popen([args.binary, "operator", "--kubeconfig", str(kc), "--lease-namespace", ns,
                                       "--namespace", ns, "--id", "bench", *args.operator_arg],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                oplog = JsonLines(op.stderr, "operator")
                oplog.wait("routing_table_published", 60)
            gw = K8sGateway(work, cp, args.binary, namespace=ns, routes=args.routes,
                            table_namespace=ns if args.routes == "published" else None).start()
            samples = []
            for i in range(args.count):
                cp.create(f"{GROUP}/namespaces/{ns}/fixsessions", fixsession(f"b-{i}", f"BENCH{i}", "svc"))
                t1 = time.monotonic()
                wait_routed(gw, f"BENCH{i}", timeout=30)
                samples.append((time.monotonic() - t1) * 1000)
        finally:
            if gw:
                gw.stop()
            if op:
                op.terminate()
                op.wait(60)
            net.delete()
    samples.sort()
    res = {"routes": args.routes, "count": len(samples), "p50_ms": round(statistics.median(samples), 1),
           "p90_ms": round(percentile(samples, 0.90), 1), "p99_ms": round(percentile(samples, 0.99), 1),
           "max_ms": round(samples[-1], 1), "load": os.getloadavg()[0]}
    print(f"apply-to-routable ({args.routes}) over {res['count']} FIXSessions: p50 {res['p50_ms']} ms, "
          f"p90 {res['p90_ms']} ms, p99 {res['p99_ms']} ms, max {res['max_ms']} ms "
          f"(load average {res['load']:.1f})")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
