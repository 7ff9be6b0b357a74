#!/usr/bin/env python3
"""report.py RESULTS.jsonl [MORE.jsonl ...] - markdown tables from bench/run.sh's raw results.

Medians over repeats. "Added" latency is paired per repeat (proxy minus the direct run of the same repeat,
which ran seconds earlier) before taking the median, so slow drift on the machine cancels out. Ratios are
fixgw / HAProxy; the goal column says which way is better and whether the goal is met.
"""
import json
import statistics
import sys
from collections import defaultdict


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    return rows


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Results:
    def __init__(self, rows):
        self.by = defaultdict(list)  # (scenario, label, variant) -> rows
        for r in rows:
            self.by[(r["scenario"], r["label"], r.get("variant", ""))].append(r)

    def runs(self, scenario, label, variant=""):
        return self.by.get((scenario, label, variant), [])

    def med(self, scenario, label, key, variant=""):
        return median([r.get(key) for r in self.runs(scenario, label, variant)])

    def values(self, scenario, label, key, variant=""):
        return [r.get(key) for r in sorted(self.runs(scenario, label, variant), key=lambda r: r["repeat"])]

    def added(self, scenario, label, key, variant="", base="direct"):
        """Median over repeats of (label's value - direct's value in the same repeat). Knob runs compare
        with the direct runs of the main scenario; the other scenarios have their own direct runs."""
        direct = {r["repeat"]: r[key] for r in self.runs(scenario.replace("knob-", ""), base)}
        diffs = [r[key] - direct[r["repeat"]] for r in self.runs(scenario, label, variant) if r["repeat"] in direct]
        return median(diffs)

    def cpu_per_op_us(self, scenario, label, rate_key, variant=""):
        """Proxy CPU time per operation: CPU utilisation during the run divided by the operation rate."""
        xs = []
        for r in self.runs(scenario, label, variant):
            rate = r.get(rate_key) or 0
            if rate and r.get("wall_s"):
                xs.append(r["proxy_cpu_s"] / r["wall_s"] / rate * 1e6)
        return median(xs)

    def cpu_per_round_trip_us(self, scenario, label, variant=""):
        """Proxy CPU time per recorded round trip of a latency run."""
        return median([r["proxy_cpu_s"] / r["wall_s"] / (r["count"] / r["seconds"]) * 1e6
                       for r in self.runs(scenario, label, variant) if r.get("wall_s") and r.get("count")])

    def cpu_pct(self, scenario, label):
        return median([100.0 * r["proxy_cpu_s"] / r["wall_s"] for r in self.runs(scenario, label) if r.get("wall_s")])


def us(ns):
    return "-" if ns is None else f"{ns / 1000:.1f}"


def num(x, fmt="{:,.0f}"):
    return "-" if x is None else fmt.format(x)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def goal_cell(r, op, target):
    if r is None:
        return "-"
    ok = r <= target if op == "<=" else r >= target
    return f"{op} {target} ({'met' if ok else 'missed'})"


# Scenarios that bench/run.sh repeats in every placement mode of BENCH_PLACEMENT.
PER_PLACEMENT = {"lat1", "lat100", "tput", "logons", "tls13", "tls12", "scale-tput", "scale-logons"}


def main():
    rows = load(sys.argv[1:])
    placements = []
    for r in rows:
        p = r.get("placement", "one")
        if r["scenario"] in PER_PLACEMENT and p not in placements:
            placements.append(p)
    if not placements:
        placements = ["one"]
    first = placements[0]
    out = []
    w = out.append
    for p in placements:
        res = Results([r for r in rows if r.get("placement", "one") == p])
        if not any(res.runs(sc, "fixgw") for sc in PER_PLACEMENT):
            continue  # e.g. BENCH_ONLY=otel
        main_table(res, w, p)
        scale_table(res, w, p)
    # Everything else ran once per repeat, in the first placement mode (free-lat1: with none).
    res = Results([r for r in rows if r["scenario"] not in PER_PLACEMENT or r.get("placement", "one") == first])
    rest(res, w)
    print("\n".join(out))


def scale_table(res, w, placement):
    if not res.runs("scale-tput", "fixgw", "workers: 1"):
        return
    w(f"## Scaling: 1 vs 2 workers (fixgw `workers`, HAProxy `nbthread`), placement {placement}, medians\n")
    w("| metric | fixgw 1 | fixgw 2 | fixgw 2/1 | HAProxy 1 | HAProxy 2 | HAProxy 2/1 | fixgw / HAProxy at 2 |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scen, key, name in (("scale-tput", "msgs_per_s", "messages/s"), ("scale-logons", "per_s", "Logons/s")):
        f1, f2 = (res.med(scen, "fixgw", key, f"workers: {n}") for n in (1, 2))
        h1, h2 = (res.med(scen, "haproxy", key, f"nbthread {n}") for n in (1, 2))
        w(f"| {name} | {num(f1)} | {num(f2)} | {num(ratio(f2, f1), '{:.2f}')} | {num(h1)} | {num(h2)} | "
          f"{num(ratio(h2, h1), '{:.2f}')} | {num(ratio(f2, h2), '{:.2f}')} |")
    for scen, key, name in (("scale-tput", "msgs_per_s", "proxy CPU per message (µs)"),
                            ("scale-logons", "per_s", "proxy CPU per Logon (µs)")):
        f1, f2 = (res.cpu_per_op_us(scen, "fixgw", key, f"workers: {n}") for n in (1, 2))
        h1, h2 = (res.cpu_per_op_us(scen, "haproxy", key, f"nbthread {n}") for n in (1, 2))
        w(f"| {name} | {num(f1, '{:.2f}')} | {num(f2, '{:.2f}')} | | {num(h1, '{:.2f}')} | {num(h2, '{:.2f}')} | | "
          f"{num(ratio(f2, h2), '{:.2f}')} |")
    w("")


def main_table(res, w, placement):
    w(f"## Results, placement {placement} (medians)\n")
    w("| Metric | direct | fixgw | HAProxy | fixgw / HAProxy | goal |")
    w("| --- | ---: | ---: | ---: | ---: | --- |")
    for scen, title in (("lat1", "1 session"), ("lat100", "100 sessions, paced")):
        if not res.runs(scen, "direct"):
            continue
        for key, name in (("p50_ns", "p50"), ("p99_ns", "p99"), ("p999_ns", "p99.9")):
            d, f, h = (res.med(scen, t, key) for t in ("direct", "fixgw", "haproxy"))
            w(f"| RTT {name}, {title} (µs) | {us(d)} | {us(f)} | {us(h)} | {num(ratio(f, h), '{:.2f}')} | |")
        for key, name in (("p50_ns", "p50"), ("p99_ns", "p99"), ("p999_ns", "p99.9")):
            f, h = res.added(scen, "fixgw", key), res.added(scen, "haproxy", key)
            r = ratio(f, h) if (f or 0) > 0 and (h or 0) > 0 else None
            goal = goal_cell(r, "<=", 0.8) if key != "p999_ns" else ""
            w(f"| **added** {name}, {title} (µs) | | {us(f)} | {us(h)} | {num(r, '{:.2f}')} | {goal} |")
        f, h = res.cpu_per_round_trip_us(scen, "fixgw"), res.cpu_per_round_trip_us(scen, "haproxy")
        w(f"| proxy CPU per round trip, {title} (µs) | | {num(f, '{:.1f}')} | {num(h, '{:.1f}')} | {num(ratio(f, h), '{:.2f}')} | lower is better |")
    if res.runs("tput", "direct"):
        d, f, h = (res.med("tput", t, "msgs_per_s") for t in ("direct", "fixgw", "haproxy"))
        r = ratio(f, h)
        w(f"| throughput (msgs/s, 256 B, echoed) | {num(d)} | {num(f)} | {num(h)} | {num(r, '{:.2f}')} | {goal_cell(r, '>=', 1)} |")
        f, h = res.cpu_pct("tput", "fixgw"), res.cpu_pct("tput", "haproxy")
        w(f"| proxy CPU during throughput (%) | | {num(f, '{:.0f}')} | {num(h, '{:.0f}')} | | |")
        f, h = res.cpu_per_op_us("tput", "fixgw", "msgs_per_s"), res.cpu_per_op_us("tput", "haproxy", "msgs_per_s")
        w(f"| proxy CPU per echoed message (µs, both directions) | | {num(f, '{:.2f}')} | {num(h, '{:.2f}')} | {num(ratio(f, h), '{:.2f}')} | lower is better |")
        fc, hc = (None if x is None else 1e6 / x for x in (f, h))
        r = ratio(fc, hc)
        w(f"| one-core capacity (msgs/s at 100% of the worker's CPU) | | {num(fc)} | {num(hc)} | {num(r, '{:.2f}')} | {goal_cell(r, '>=', 1)} |")
    if res.runs("logons", "direct"):
        d, f, h = (res.med("logons", t, "per_s") for t in ("direct", "fixgw", "haproxy"))
        r = ratio(f, h)
        w(f"| Logons/s (connect, Logon, first byte, close) | {num(d)} | {num(f)} | {num(h)} | {num(r, '{:.2f}')} | {goal_cell(r, '>=', 1.5)} |")
        for key, name in (("p50_ns", "p50"), ("p99_ns", "p99")):
            d, f, h = (res.med("logons", t, key) for t in ("direct", "fixgw", "haproxy"))
            w(f"| Logon to first byte {name} (µs) | {us(d)} | {us(f)} | {us(h)} | {num(ratio(f, h), '{:.2f}')} | |")
        f, h = res.cpu_per_op_us("logons", "fixgw", "per_s"), res.cpu_per_op_us("logons", "haproxy", "per_s")
        r = ratio(f, h)
        w(f"| proxy CPU per Logon (µs) | | {num(f, '{:.1f}')} | {num(h, '{:.1f}')} | {num(r, '{:.2f}')} | {goal_cell(r, '<=', 1)} |")
        fc, hc = (None if x is None else 1e6 / x for x in (f, h))
        r = ratio(fc, hc)
        w(f"| one-core capacity (Logons/s at 100% of the worker's CPU) | | {num(fc)} | {num(hc)} | {num(r, '{:.2f}')} | {goal_cell(r, '>=', 1)} |")
    for scen, name in (("tls13", "TLS 1.3"), ("tls12", "TLS 1.2")):
        if not res.runs(scen, "fixgw"):
            continue
        f, h = res.med(scen, "fixgw", "per_s"), res.med(scen, "haproxy", "per_s")
        w(f"| {name} handshakes/s (RSA-2048, no resumption) | | {num(f)} | {num(h)} | {num(ratio(f, h), '{:.2f}')} | |")
        f, h = res.cpu_per_op_us(scen, "fixgw", "per_s"), res.cpu_per_op_us(scen, "haproxy", "per_s")
        w(f"| proxy CPU per {name} handshake (µs) | | {num(f)} | {num(h)} | {num(ratio(f, h), '{:.2f}')} | |")
    idle = {t: (res.runs("idle", t) or [None])[0] for t in ("direct", "fixgw", "haproxy")}
    if idle["fixgw"] or idle["haproxy"]:
        def per(r, before, after, unit):
            if not r or not r.get("opened"):
                return None
            return (r[after] - r[before]) * unit / r["opened"]

        user = {t: per(r, "rss_kb_before", "rss_kb_after", 1024) for t, r in idle.items()}
        tcp = {t: per(r, "tcp_mem_pages_before", "tcp_mem_pages_after", 4096) for t, r in idle.items()}
        slab = {t: per(r, "slab_kb_before", "slab_kb_after", 1024) for t, r in idle.items()}
        n = next((r["opened"] for r in idle.values() if r), 0)
        r = ratio(user["fixgw"], user["haproxy"])
        w(f"| idle: user-space bytes per session (RSS delta / {n:,}) | | {num(user['fixgw'])} | {num(user['haproxy'])} | {num(r, '{:.2f}')} | fixgw <= 2048 ({'met' if (user['fixgw'] or 1e9) <= 2048 else 'missed'}) |")
        w(f"| idle: kernel TCP mem bytes per session (sockstat delta, whole run) | {num(tcp['direct'])} | {num(tcp['fixgw'])} | {num(tcp['haproxy'])} | | |")

        def total(t):
            if user[t] is None or tcp[t] is None or tcp["direct"] is None:
                return None
            return user[t] + tcp[t] - tcp["direct"]

        w(f"| idle: total bytes per session (user + kernel TCP mem beyond direct) | | {num(total('fixgw'))} | {num(total('haproxy'))} | {num(ratio(total('fixgw'), total('haproxy')), '{:.2f}')} | |")
        sf = None if slab["fixgw"] is None or slab["direct"] is None else slab["fixgw"] - slab["direct"]
        sh = None if slab["haproxy"] is None or slab["direct"] is None else slab["haproxy"] - slab["direct"]
        w(f"| idle: kernel slab bytes per session beyond direct (system-wide, noisy) | | {num(sf)} | {num(sh)} | | informational |")
    w("")


def rest(res, w):
    out = w.__self__

    knob_variants = sorted({v for (sc, l, v) in res.by if sc == "knob-lat1" and l == "fixgw"})
    if knob_variants:
        w("## fixgw tuning knobs (latency in µs, medians; added = minus direct of the same repeat's lat run)\n")
        w("| variant | 1 session p50 | p99 | p99.9 | added p50 | added p99 | 100 sessions p50 | p99 | p99.9 | added p50 | added p99 |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for v in knob_variants:
            cells = []
            for scen in ("knob-lat1", "knob-lat100"):
                cells += [us(res.med(scen, "fixgw", k, v)) for k in ("p50_ns", "p99_ns", "p999_ns")]
                cells += [us(res.added(scen, "fixgw", k, v)) for k in ("p50_ns", "p99_ns")]
            w(f"| {v or 'defaults'} | " + " | ".join(cells) + " |")
        w("")
        rows = []
        for v in sorted({v for (sc, l, v) in res.by if sc == "knob-tput"}):
            rows.append(f"| throughput, {v or 'defaults'} | {num(res.med('knob-tput', 'fixgw', 'msgs_per_s', v))} msgs/s | "
                        f"{num(res.cpu_per_op_us('knob-tput', 'fixgw', 'msgs_per_s', v), '{:.2f}')} µs CPU/msg |")
        for v in sorted({v for (sc, l, v) in res.by if sc == "knob-logons"}):
            rows.append(f"| Logons, {v or 'defaults (logLevel info)'} | {num(res.med('knob-logons', 'fixgw', 'per_s', v))} Logons/s | "
                        f"{num(res.cpu_per_op_us('knob-logons', 'fixgw', 'per_s', v), '{:.1f}')} µs CPU/Logon |")
        if rows:
            w("| fixgw variant | rate | proxy CPU per op |")
            w("| --- | ---: | ---: |")
            out.extend(rows)
            w("")

    otel_table(res, w)

    if res.runs("free-lat1", "direct"):
        w("## No CPU placement (scheduler free), 1 session latency in µs, medians\n")
        w("| target | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, v in (("direct", ""), ("fixgw", ""), ("fixgw", "tuning: {pinWorkers: true}"), ("haproxy", "")):
            if not res.runs("free-lat1", label, v):
                continue
            cells = [us(res.med("free-lat1", label, k, v)) for k in ("p50_ns", "p99_ns", "p999_ns")]
            cells += ["" if label == "direct" else us(res.added("free-lat1", label, k, v)) for k in ("p50_ns", "p99_ns", "p999_ns")]
            w(f"| {label}{' ' + v if v else ''} | " + " | ".join(cells) + " |")
        w("")

    prof = {(sc, l): (res.runs(sc, l) or [None])[0] for sc in ("syscalls-lat1", "syscalls-logons") for l in ("fixgw", "haproxy")}
    if any(prof.values()):
        w("## Syscalls per operation (perf stat, one run each)\n")
        w("| syscall | fixgw per round trip | HAProxy per round trip | fixgw per Logon | HAProxy per Logon |")
        w("| --- | ---: | ---: | ---: | ---: |")

        def per_op(r):
            if not r:
                return {}
            ops = r.get("completed") or r.get("count") or 0
            return {k: v / ops for k, v in r["syscalls"].items()} if ops else {}

        cols = [per_op(prof[(sc, l)]) for sc in ("syscalls-lat1", "syscalls-logons") for l in ("fixgw", "haproxy")]
        names = sorted({k for c in cols for k, v in c.items() if v >= 0.05}, key=lambda k: -max(c.get(k, 0) for c in cols))
        for k in names:
            w(f"| {k} | " + " | ".join(f"{c.get(k, 0):.2f}" for c in cols) + " |")
        w("| **total** | " + " | ".join(f"**{sum(v for kk, v in c.items() if kk != 'context-switches'):.1f}**" for c in cols) + " |")
        w("")

    w("## Per-repeat values (stability)\n")
    w("| scenario | metric | direct | fixgw | HAProxy |")
    w("| --- | --- | --- | --- | --- |")
    for scen, key, fmt in (("lat1", "p50_ns", us), ("lat1", "p99_ns", us), ("lat100", "p50_ns", us),
                           ("lat100", "p99_ns", us), ("tput", "msgs_per_s", num), ("logons", "per_s", num),
                           ("tls13", "per_s", num), ("tls12", "per_s", num)):
        if not res.runs(scen, "fixgw"):
            continue
        cells = [", ".join(fmt(x) for x in res.values(scen, t, key)) or "-" for t in ("direct", "fixgw", "haproxy")]
        w(f"| {scen} | {key} | " + " | ".join(cells) + " |")
    errs = sum(r.get("errors", 0) for rows in res.by.values() for r in rows)
    w(f"\nload-generator errors over all runs (first placement and once-only scenarios): {errs}")


OTEL_MODES = ("off", "healthy", "blackholed")


def otel_table(res, w):
    """The otel scenario: fixgw with OTLP export off, to a healthy collector and to a blackholed one."""
    if not res.runs("otel-lat1", "fixgw", "off"):
        return
    w("## OTLP export: off, to a healthy collector, to a blackholed one (fixgw, medians)\n")
    w("Each mode is a fresh fixgw given an unmeasured 1 s burst of Logons first (spans for its exporter to "
      "send, or to queue and drop), then the latency runs while the exporter sends (healthy) or waits out its "
      "request timeout with full queues (blackholed), then the Logon rate. RSS: the proxy's after the "
      "100-session run, and the largest seen after any run.\n")
    w("| export | Logons/s | µs CPU/Logon | 1 session p50 µs | p99 | 100 sessions p50 µs | p99 | RSS MiB | max RSS MiB |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cells(m):
        rss_all = [r.get("proxy_rss_kb") for sc in ("otel-logons", "otel-lat1", "otel-lat100")
                   for r in res.runs(sc, "fixgw", m)]
        rss_all = [x for x in rss_all if x is not None]
        return [res.med("otel-logons", "fixgw", "per_s", m), res.cpu_per_op_us("otel-logons", "fixgw", "per_s", m),
                res.med("otel-lat1", "fixgw", "p50_ns", m), res.med("otel-lat1", "fixgw", "p99_ns", m),
                res.med("otel-lat100", "fixgw", "p50_ns", m), res.med("otel-lat100", "fixgw", "p99_ns", m),
                res.med("otel-lat100", "fixgw", "proxy_rss_kb", m), max(rss_all) if rss_all else None]

    fmts = [num, lambda x: num(x, "{:.1f}"), us, us, us, us, lambda x: num(x and x / 1024, "{:.1f}"),
            lambda x: num(x and x / 1024, "{:.1f}")]
    base = cells("off")
    for m in OTEL_MODES:
        c = cells(m)
        w(f"| {m} | " + " | ".join(f(x) for f, x in zip(fmts, c)) + " |")
    for m in OTEL_MODES[1:]:
        c = cells(m)
        w(f"| {m} / off | " + " | ".join(num(ratio(x, b), "{:.2f}") for x, b in zip(c, base)) + " |")
    w("")
    w("| export | per-repeat Logons/s | 1 session p99 µs | 100 sessions p99 µs |")
    w("| --- | --- | --- | --- |")
    for m in OTEL_MODES:
        w(f"| {m} | " + " | ".join(", ".join(f(x) for x in res.values(sc, "fixgw", k, m))
                                   for sc, k, f in (("otel-logons", "per_s", num), ("otel-lat1", "p99_ns", us),
                                                    ("otel-lat100", "p99_ns", us))) + " |")
    w("")


if __name__ == "__main__":
    main()
