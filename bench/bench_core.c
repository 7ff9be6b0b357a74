/* bench_core.c - core benchmarks: Logon scan ns/op, route evaluation latency (p50/p99) and compile +
 * conflict-check time at 10, 1,000 and 100,000 routes, and the manifest loader (YAML text to compiled
 * table, what `fixgw routes check` does minus reading files) at 10,000, 40,000 and 100,000 FIXSessions. Run
 * by `make bench`; numbers go into docs/benchmarks.md. Each evaluation is timed on its own with
 * CLOCK_MONOTONIC, so the reported latencies include the clock read (measured and printed as "timer
 * overhead"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/diag.h"
#include "core/fix_scan.h"
#include "core/glob.h"
#include "core/manifest.h"
#include "core/route_table.h"
#include "io/diag_print.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static size_t build_logon(char *out, size_t cap, const char *sender, const char *sub, const char *deliver)
{
	char body[512];
	int n = snprintf(body, sizeof(body),
	                 "35=A\00149=%s\00156=FIXGW\00134=1\00152=20261127-12:00:00.000\001%s%s%s%s%s%s"
	                 "98=0\001108=30\001553=user\001554=secret\001",
	                 sender, sub ? "50=" : "", sub ? sub : "", sub ? "\001" : "", deliver ? "128=" : "",
	                 deliver ? deliver : "", deliver ? "\001" : "");
	int h = snprintf(out, cap, "8=FIX.4.4\0019=%d\001%s", n, body);
	unsigned sum = 0;
	for (int i = 0; i < h; i++)
		sum += (unsigned char)out[i];
	return (size_t)h + (size_t)snprintf(out + h, cap - (size_t)h, "10=%03u\001", sum % 256);
}

static void bench_scan(void)
{
	char msg[512];
	size_t len = build_logon(msg, sizeof(msg), "BROKER_A", "DESK1", "FI");
	struct fix_field fields[64];
	struct fix_scanner sc;
	const int iters = 2000000;
	volatile size_t sink = 0;
	uint64_t t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		fix_scan_init(&sc, fields, 64, 0);
		fix_scan_step(&sc, msg, len);
		sink += sc.length;
	}
	uint64_t dt = now_ns() - t0;
	printf("| Logon scan (%zu-byte FIX.4.4 Logon, 12 fields), one shot | %.1f ns/op | %.2f GB/s |\n", len,
	       (double)dt / iters, (double)len * iters / (double)dt);
	/* byte at a time: the incremental worst case */
	t0 = now_ns();
	for (int i = 0; i < iters / 50; i++) {
		fix_scan_init(&sc, fields, 64, 0);
		for (size_t k = 1; k <= len; k++)
			fix_scan_step(&sc, msg, k);
		sink += sc.length;
	}
	dt = now_ns() - t0;
	printf("| Logon scan, fed one byte per call | %.1f ns/op | %.1f ns/byte |\n",
	       (double)dt / (iters / 50), (double)dt / (iters / 50) / (double)len);
	(void)sink;
}

/* n exact routes over three signatures ({49}, {49,50}, {49,50,128}), plus 2 wildcards and a default. */
static void make_routes(struct route_set *set, size_t n)
{
	char buf[64];
	for (size_t i = 0; i < n; i++) {
		struct route *r = route_set_push(set);
		snprintf(buf, sizeof(buf), "r%zu", i);
		r->ns = strdup("bench");
		r->name = strdup(buf);
		size_t nf = 1 + i % 3;
		r->fields = calloc(nf, sizeof(*r->fields));
		r->nfields = nf;
		static const uint32_t tags[] = {49, 50, 128};
		for (size_t k = 0; k < nf; k++) {
			snprintf(buf, sizeof(buf), k == 0 ? "CP%zu" : "V%zu", k == 0 ? i / 3 : i);
			r->fields[k] = (struct route_field){.tag = tags[k],
			                                    .name = strdup("F"),
			                                    .value = strdup(buf),
			                                    .value_len = strlen(buf),
			                                    .log = true};
		}
		r->target.service = strdup("svc");
		r->target.port = 9880;
		r->max_held = 1;
		r->hold_timeout_ms = 30000;
	}
	for (int w = 0; w < 3; w++) {
		struct route *r = route_set_push(set);
		snprintf(buf, sizeof(buf), "wild%d", w);
		r->ns = strdup("bench");
		r->name = strdup(buf);
		r->has_priority = true;
		r->priority = w == 2 ? 0 : 10 + w;
		if (w < 2) {
			r->fields = calloc(1, sizeof(*r->fields));
			r->nfields = 1;
			snprintf(buf, sizeof(buf), w ? "ZZ*" : "YY*");
			r->fields[0] = (struct route_field){.tag = 49,
			                                    .name = strdup("F"),
			                                    .value = strdup(buf),
			                                    .value_len = 3,
			                                    .is_pattern = true,
			                                    .log = true};
		}
		r->target.service = strdup("svc");
		r->target.port = 9880;
		r->max_held = 1;
		r->hold_timeout_ms = 30000;
	}
}

static void bench_routes(size_t n, uint64_t timer_ns)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	make_routes(&set, n);
	struct route_table *t = NULL;
	uint64_t t0 = now_ns();
	int err = route_table_compile(&set, &dl, &t);
	uint64_t compile_ns = now_ns() - t0;
	if (err) {
		diag_print(&dl, stderr);
		exit(1);
	}
	/* Logons: hits on each signature, a wildcard hit and a miss to the default. */
	enum { NLOGONS = 64 };
	static char msgs[NLOGONS][512];
	static struct fix_field fields[NLOGONS][64];
	static struct fix_scanner sc[NLOGONS];
	for (int i = 0; i < NLOGONS; i++) {
		char cp[32], v1[32], v2[32];
		size_t r = (size_t)rand() % n;
		if (i % 8 == 7)
			snprintf(cp, sizeof(cp), "YYX%d", i); /* wildcard hit */
		else if (i % 8 == 6)
			snprintf(cp, sizeof(cp), "NOPE%d", i); /* falls through to the default route */
		else
			snprintf(cp, sizeof(cp), "CP%zu", r / 3);
		snprintf(v1, sizeof(v1), "V%zu", r - r % 3 + 1);
		snprintf(v2, sizeof(v2), "V%zu", r - r % 3 + 2);
		size_t len = build_logon(msgs[i], sizeof(msgs[i]), cp, v1, i % 2 ? v2 : NULL);
		fix_scan_init(&sc[i], fields[i], 64, 0);
		fix_scan_step(&sc[i], msgs[i], len);
	}
	const size_t iters = 400000;
	uint64_t *lat = malloc(iters * sizeof(*lat));
	uint64_t bit = route_table_listener_bit(t, "fix-plain");
	struct route_eval ev;
	size_t matched = 0;
	for (size_t i = 0; i < iters; i++) {
		int k = (int)(i % NLOGONS);
		uint64_t a = now_ns();
		route_table_eval(t, &sc[k], msgs[k], bit, &ev);
		lat[i] = now_ns() - a;
		matched += ev.decision == ROUTE_DECISION_MATCH;
	}
	qsort(lat, iters, sizeof(*lat), cmp_u64);
	printf("| %zu | %.2f ms | %llu ns | %llu ns | %llu ns | %.0f%% |\n", n, (double)compile_ns / 1e6,
	       (unsigned long long)lat[iters / 2], (unsigned long long)lat[iters * 99 / 100],
	       (unsigned long long)lat[iters * 999 / 1000], 100.0 * (double)matched / (double)iters);
	(void)timer_ns;
	free(lat);
	route_table_unref(t);
	diag_list_free(&dl);
}

static void bench_conflict_check(size_t n)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	make_routes(&set, n);
	struct route_table *t = NULL;
	uint64_t t0 = now_ns();
	route_table_compile(&set, &dl, &t);
	printf("| %zu | %.2f ms |\n", n, (double)(now_ns() - t0) / 1e6);
	route_table_unref(t);
	diag_list_free(&dl);
	route_set_free(&set);
}

#define LOADER_PER_BUFFER 5000 /* objects per buffer, as files of a directory would hold them */

/* n FIXSessions as YAML text in buffers of LOADER_PER_BUFFER objects, parsed, checked and compiled:
 * `fixgw routes check` without the file reads. The best of three runs is reported. */
static void bench_loader(size_t n, bool fast)
{
	size_t nbufs = (n + LOADER_PER_BUFFER - 1) / LOADER_PER_BUFFER, cap = LOADER_PER_BUFFER * 320;
	char **bufs = calloc(nbufs, sizeof(*bufs));
	size_t *lens = calloc(nbufs, sizeof(*lens));
	uint64_t best_load = UINT64_MAX, best_total = UINT64_MAX;
	for (size_t b = 0; b < nbufs; b++) {
		bufs[b] = malloc(cap);
		for (size_t i = b * LOADER_PER_BUFFER; i < n && i < (b + 1) * LOADER_PER_BUFFER; i++)
			lens[b] += (size_t)snprintf(
			    bufs[b] + lens[b], cap - lens[b],
			    "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\n"
			    "metadata:\n  name: s%zu\n  namespace: trading\nspec:\n"
			    "  matchFields:\n    SenderCompID49:\n      value: \"CLIENT%zu\"\n"
			    "  target:\n    service:\n      name: engine%zu\n"
			    "      port:\n        number: 9880\n",
			    i, i, i % 50);
	}
	for (int run = 0; run < 3; run++) {
		struct route_set set;
		struct diag_list dl;
		struct manifest_loader *ld;
		struct route_table *t = NULL;
		char origin[32];
		route_set_init(&set);
		diag_list_init(&dl);
		uint64_t t0 = now_ns();
		int rc = manifest_loader_new(&set, &dl, &ld);
		if (rc == 0)
			manifest_loader_set_yaml_fast(ld, fast);
		for (size_t b = 0; b < nbufs && rc == 0; b++) {
			snprintf(origin, sizeof(origin), "part%03zu.yaml", b);
			rc = manifest_loader_add(ld, origin, bufs[b], lens[b]);
		}
		manifest_loader_free(ld);
		uint64_t t1 = now_ns();
		if (rc == 0)
			rc = route_table_compile(&set, &dl, &t);
		uint64_t t2 = now_ns();
		if (rc != 0 || !t || route_table_count(t) != n) {
			fprintf(stderr, "loader bench: rc %d\n", rc);
			diag_print(&dl, stderr);
			exit(1);
		}
		best_load = t1 - t0 < best_load ? t1 - t0 : best_load;
		best_total = t2 - t0 < best_total ? t2 - t0 : best_total;
		route_table_unref(t);
		diag_list_free(&dl);
		route_set_free(&set);
	}
	printf("| %zu | %s | %.0f ms | %.0f ms | %.1f us |\n", n, fast ? "fast path" : "libyaml only",
	       (double)best_load / 1e6, (double)best_total / 1e6, (double)best_total / 1e3 / (double)n);
	for (size_t b = 0; b < nbufs; b++)
		free(bufs[b]);
	free(bufs);
	free(lens);
}

int main(void)
{
	uint64_t samples[1001];
	for (int i = 0; i < 1001; i++) {
		uint64_t a = now_ns();
		samples[i] = now_ns() - a;
	}
	qsort(samples, 1001, sizeof(samples[0]), cmp_u64);
	uint64_t timer_ns = samples[500];

	printf("## Logon scanner\n\n| case | time | throughput |\n|---|---|---|\n");
	bench_scan();
	printf("\n## Route evaluation (timer overhead %llu ns included in each sample)\n\n"
	       "| exact routes | compile + conflict check | eval p50 | eval p99 | eval p99.9 | matched |\n"
	       "|---|---|---|---|---|---|\n",
	       (unsigned long long)timer_ns);
	bench_routes(10, timer_ns);
	bench_routes(1000, timer_ns);
	bench_routes(100000, timer_ns);
	printf("\n## Compile + conflict check\n\n| exact routes | time |\n|---|---|\n");
	bench_conflict_check(10000);
	bench_conflict_check(100000);
	printf("\n## Manifest loader (YAML text, %d objects per buffer; best of 3)\n\n"
	       "| FIXSessions | YAML reader (ADR-017) | parse + check | + compile | per FIXSession |\n"
	       "|---|---|---|---|---|\n",
	       LOADER_PER_BUFFER);
	bench_loader(10000, true);
	bench_loader(40000, true);
	bench_loader(100000, true);
	bench_loader(100000, false);
	return 0;
}
