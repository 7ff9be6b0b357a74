/* op_admin.c - the operator's /healthz, /readyz and /metrics (see op_admin.h). */
#include "operator/op_admin.h"

#include <stdio.h>
#include <string.h>

struct op_admin {
	struct op_health *health;
	struct op_metrics *metrics;
	struct otlp_exporter *otlp;
};

static struct op_admin admin; /* one operator per process */

static void handle(void *arg, const char *path, struct admin_reply *r)
{
	struct op_admin *a = arg;
	if (strcmp(path, "/healthz") == 0) {
		uint64_t last = atomic_load_explicit(&a->health->progress_ms, memory_order_relaxed);
		uint64_t now = reactor_clock_ms();
		if (last && now > last && now - last > a->health->stall_ms) {
			char why[128];
			snprintf(why, sizeof(why),
			         "the operator's main loop has made no progress for %llu ms",
			         (unsigned long long)(now - last));
			admin_reply_line(r, 503, why);
		} else {
			admin_reply_text(r, 200, "ok\n");
		}
	} else if (strcmp(path, "/readyz") == 0) {
		if (atomic_load(&a->health->stopping))
			admin_reply_text(r, 503, "stopping\n");
		else if (!atomic_load(&a->health->synced))
			admin_reply_text(r, 503, "starting: the caches have not synced yet\n");
		else
			admin_reply_text(r, 200, "ready\n");
	} else if (strcmp(path, "/metrics") == 0) {
		admin_reply_metrics(r, a->otlp, op_metrics_collect, a->metrics);
	}
}

int op_admin_start(struct op_health *health, struct op_metrics *metrics, struct otlp_exporter *otlp,
                   const struct net_addr *addr, struct admin_http **out)
{
	admin = (struct op_admin){health, metrics, otlp};
	struct admin_http_opts o = {
	    .addr = addr,
	    .handle = handle,
	    .arg = &admin,
	    .not_found = "not found: try /healthz, /readyz, /metrics\n",
	};
	return admin_http_spawn(&o, out);
}
