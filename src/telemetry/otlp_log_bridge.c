/* otlp_log_bridge.c - every JSON log line also as an OTLP log record.
 *
 * log.c hands each finished line to the installed record hook with its values as views into the line
 * it just rendered (telemetry/log.h, struct log_record); this hook maps them onto an otlp_log and queues
 * it with otlp_log_emit: a copy into a preallocated slot of the exporter's bounded lock-free queue, no
 * lock, no allocation, a full queue drops and counts. So a worker never waits for the collector, and the
 * line is formatted once: the record carries exactly the (redacted) values the line carries. */
#include <string.h>

#include "telemetry/otlp.h"

static struct log_record_hook hook_;

static void bridge(void *arg, const struct log_record *r)
{
	struct otlp_exporter *e = arg;
	struct otlp_attr a[LOG_RECORD_MAX_FIELDS];
	size_t n = 0;
	for (size_t i = 0; i < r->nfields && n < LOG_RECORD_MAX_FIELDS; i++) {
		const struct log_field *f = &r->fields[i];
		switch (f->type) {
		case LOG_FIELD_INT:
			a[n++] = OTLP_INT(f->key, f->i);
			break;
		case LOG_FIELD_BOOL:
			a[n++] = OTLP_BOOL(f->key, f->i != 0);
			break;
		default: /* strings, and pre-rendered JSON as its text */
			a[n++] = OTLP_STRN(f->key, f->s, f->len);
		}
	}
	struct otlp_log l = {.time_ns = r->time_ns,
	                     .level = r->level,
	                     .event = r->event,
	                     .body = r->msg,
	                     .attrs = a,
	                     .nattrs = n};
	if (r->trace_bytes && r->span_bytes) { /* else a record about no span: all-zero ids */
		memcpy(l.trace_id, r->trace_bytes, sizeof(l.trace_id));
		memcpy(l.span_id, r->span_bytes, sizeof(l.span_id));
	}
	otlp_log_emit(e, &l); /* a full queue drops and counts the record */
}

void otlp_log_bridge_start(struct otlp_exporter *e)
{
	if (!e || !otlp_exporter_signal_on(e, OTLP_LOGS))
		return;
	hook_ = (struct log_record_hook){.fn = bridge, .arg = e};
	log_set_record_hook(&hook_);
}

void otlp_log_bridge_stop(void)
{
	log_set_record_hook(NULL);
}
