/* reject_admin.c - the reject engine's /healthz, /readyz and /metrics (see reject_admin.h). */
#include "reject/reject_admin.h"

#include <string.h>

#define PING_INTERVAL_MS 1000u

struct reject_admin {
	struct reject_engine *e;
	struct otlp_exporter *otlp;
};

static struct reject_admin admin; /* one engine per process */

static void ping(void *arg)
{
	reject_engine_ping(((struct reject_admin *)arg)->e);
}

static void handle(void *arg, const char *path, struct admin_reply *r)
{
	struct reject_admin *a = arg;
	if (strcmp(path, "/healthz") == 0) {
		char why[160];
		if (reject_engine_stuck(a->e, why, sizeof(why)))
			admin_reply_line(r, 503, why);
		else
			admin_reply_text(r, 200, "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		const char *why = reject_engine_unready(a->e);
		admin_reply_line(r, why ? 503 : 200, why ? why : "ready");
	} else if (strcmp(path, "/metrics") == 0) {
		admin_reply_metrics(r, a->otlp, reject_engine_collect, a->e);
	}
}

int reject_admin_start(struct reject_engine *e, struct otlp_exporter *otlp, const struct net_addr *addr,
                       struct admin_http **out)
{
	admin = (struct reject_admin){e, otlp};
	struct admin_http_opts o = {
	    .addr = addr,
	    .handle = handle,
	    .arg = &admin,
	    .not_found = "not found: try /healthz, /readyz, /metrics\n",
	    .tick = ping,
	    .tick_ms = PING_INTERVAL_MS,
	};
	return admin_http_spawn(&o, out);
}
