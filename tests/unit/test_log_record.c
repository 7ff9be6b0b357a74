/* test_log_record.c - the record hook of the JSON logger and the OTLP log bridge on top of it: a line's
 * values reach the hook as the line rendered them (escapes decoded), its ids as the record's ids, nothing
 * below the level, and the bridge queues one OTLP log record per line only when the logs signal is on. */
#include <stdlib.h>
#include <unistd.h>

#include "core/text.h"
#include "telemetry/log.h"
#include "telemetry/otlp.h"
#include "telemetry/otlp_internal.h"
#include "test.h"

struct seen {
	int calls;
	enum log_level level;
	char event[64], msg[256], trace[33], span[17];
	const uint8_t *trace_bytes, *span_bytes;
	size_t nfields;
	char keys[LOG_RECORD_MAX_FIELDS][32];
	char vals[LOG_RECORD_MAX_FIELDS][128];
	enum log_field_type types[LOG_RECORD_MAX_FIELDS];
	int64_t ints[LOG_RECORD_MAX_FIELDS];
};

static void capture(void *arg, const struct log_record *r)
{
	struct seen *s = arg;
	s->calls++;
	s->level = r->level;
	snprintf(s->event, sizeof(s->event), "%s", r->event);
	snprintf(s->msg, sizeof(s->msg), "%s", r->msg);
	s->trace[0] = s->span[0] = '\0';
	if (r->trace_bytes)
		text_hex(r->trace_bytes, 16, s->trace);
	if (r->span_bytes)
		text_hex(r->span_bytes, 8, s->span);
	s->trace_bytes = r->trace_bytes;
	s->span_bytes = r->span_bytes;
	s->nfields = r->nfields;
	for (size_t i = 0; i < r->nfields; i++) {
		snprintf(s->keys[i], sizeof(s->keys[i]), "%s", r->fields[i].key);
		s->types[i] = r->fields[i].type;
		s->ints[i] = r->fields[i].i;
		if (r->fields[i].type == LOG_FIELD_STR || r->fields[i].type == LOG_FIELD_JSON)
			snprintf(s->vals[i], sizeof(s->vals[i]), "%.*s", (int)r->fields[i].len,
			         r->fields[i].s);
	}
}

static int field(const struct seen *s, const char *key)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (!strcmp(s->keys[i], key))
			return (int)i;
	return -1;
}

static const uint8_t trace_bytes[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const struct log_ctx ctx = {.component = "gateway",
                                   .listener = "fix-plain",
                                   .peer = "127.0.0.1:5000",
                                   .route = "trading/eq",
                                   .trace_bytes = trace_bytes,
                                   .span_bytes = trace_bytes,
                                   .conn_id = 7};

TEST(hook_sees_the_line_as_rendered)
{
	static struct seen s;
	memset(&s, 0, sizeof(s));
	struct log_record_hook h = {capture, &s};
	log_configure(LOG_INFO, 2);
	log_set_record_hook(&h);
	struct log_line l;
	log_begin(&l, LOG_CRITICAL, "hold_timeout", &ctx);
	log_str(&l, "plain", "abc");
	log_str(&l, "quoted", "a\"b\\c\nd\x01");
	log_str(&l, "empty", "");
	log_int(&l, "neg", -42);
	log_uint(&l, "big", UINT64_MAX);
	log_bool(&l, "flag", true);
	log_raw(&l, "fields", "{\"SenderCompID49\":\"[REDACTED]\"}");
	char tmp[16];
	snprintf(tmp, sizeof(tmp), "temp");
	log_str(&l, "reused", tmp);
	memcpy(tmp, "XXXX", 5); /* the record reads the line, not the caller's buffer */
	log_end(&l, "held %d ms: %s", 10, "closing");
	log_set_record_hook(NULL);

	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_INT(s.level, LOG_CRITICAL);
	CHECK_EQ_STR(s.event, "hold_timeout");
	CHECK_EQ_STR(s.msg, "held 10 ms: closing");
	CHECK_EQ_STR(s.trace, "0123456789abcdef0123456789abcdef");
	CHECK_EQ_STR(s.span, "0123456789abcdef");
	CHECK(s.trace_bytes == trace_bytes && s.span_bytes == trace_bytes); /* passed on, not decoded */
	CHECK(field(&s, "trace_id") < 0 && field(&s, "span_id") < 0 && field(&s, "msg") < 0);
	CHECK(field(&s, "event") < 0);
	int i = field(&s, "component");
	CHECK(i >= 0 && !strcmp(s.vals[i], "gateway"));
	i = field(&s, "conn_id");
	CHECK(i >= 0 && s.types[i] == LOG_FIELD_INT && s.ints[i] == 7);
	i = field(&s, "route");
	CHECK(i >= 0 && !strcmp(s.vals[i], "trading/eq"));
	i = field(&s, "plain");
	CHECK(i >= 0 && !strcmp(s.vals[i], "abc"));
	i = field(&s, "quoted");
	CHECK(i >= 0 && !strcmp(s.vals[i], "a\"b\\c\nd\x01"));
	i = field(&s, "empty");
	CHECK(i >= 0 && s.types[i] == LOG_FIELD_STR && s.vals[i][0] == '\0');
	i = field(&s, "neg");
	CHECK(i >= 0 && s.ints[i] == -42);
	i = field(&s, "big");
	CHECK(i >= 0 && s.ints[i] == INT64_MAX);
	i = field(&s, "flag");
	CHECK(i >= 0 && s.types[i] == LOG_FIELD_BOOL && s.ints[i] == 1);
	i = field(&s, "fields");
	CHECK(i >= 0 && s.types[i] == LOG_FIELD_JSON &&
	      !strcmp(s.vals[i], "{\"SenderCompID49\":\"[REDACTED]\"}"));
	i = field(&s, "reused");
	CHECK(i >= 0 && !strcmp(s.vals[i], "temp"));
}

/* A context's ids are bytes: the hook gets the bytes themselves (not decoded from the line's hex), the
 * same 16 and 8 bytes the context holds. */
TEST(ids_as_bytes_render_as_hex)
{
	static const uint8_t tb[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
	                               0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
	static const uint8_t sb[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
	const struct log_ctx bytes_only = {.component = "gateway", .trace_bytes = tb, .span_bytes = sb};
	static struct seen s;
	memset(&s, 0, sizeof(s));
	struct log_record_hook h = {capture, &s};
	log_configure(LOG_INFO, 2);
	log_set_record_hook(&h);
	log_msg(LOG_INFO, "routing_decision", &bytes_only, "a -> b");
	log_set_record_hook(NULL);
	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_STR(s.trace, "4bf92f3577b34da6a3ce929d0e0e4736");
	CHECK_EQ_STR(s.span, "00f067aa0ba902b7");
	CHECK(s.trace_bytes == tb && s.span_bytes == sb);
}

TEST(no_hook_no_record_and_level_filter)
{
	static struct seen s;
	memset(&s, 0, sizeof(s));
	struct log_record_hook h = {capture, &s};
	log_configure(LOG_INFO, 2);
	log_msg(LOG_INFO, "before", NULL, "not hooked");
	log_set_record_hook(&h);
	log_msg(LOG_DEBUG, "filtered", &ctx, "below the level");
	CHECK_EQ_INT(s.calls, 0);
	log_msg(LOG_WARN, "seen", NULL, "no context: no ids");
	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_STR(s.trace, "");
	CHECK_EQ_INT(s.nfields, 0);
	log_set_record_hook(NULL);
	log_msg(LOG_ERROR, "after", NULL, "not hooked");
	CHECK_EQ_INT(s.calls, 1);
}

TEST(view_attribute_copied_with_its_length)
{
	static struct otlp_rec r;
	const char view[] = "abcdef";
	struct otlp_attr a[] = {OTLP_STRN("k", view, 3), OTLP_STRN("empty", NULL, 0)};
	struct otlp_log l = {.time_ns = 5, .level = LOG_INFO, .event = "e", .attrs = a, .nattrs = 2};
	otlp_rec_from_log(&r, &l);
	CHECK_EQ_INT(r.nattrs, 2);
	CHECK_EQ_INT(r.attrs[0].type, OTLP_ATTR_STRING);
	CHECK_EQ_STR(r.text + r.attrs[0].v.s.off, "abc");
	CHECK_EQ_INT(r.attrs[1].v.s.len, 0);
	CHECK_EQ_INT(r.start_ns, 5);
}

/* An exporter that never sends during the test: an endpoint nobody listens on, an interval of an hour
 * and a batch larger than the lines logged, so what the bridge queued is still queued when read. */
static struct otlp_exporter *idle_exporter(bool logs)
{
	struct otlp_config c;
	char err[128];
	otlp_config_init(&c);
	otlp_config_set(&c, "endpoint", "http://127.0.0.1:9", err, sizeof(err));
	otlp_config_set(&c, "logs.interval", "3600s", err, sizeof(err));
	otlp_config_set(&c, "logs.batchSize", "64", err, sizeof(err));
	otlp_config_set(&c, "metrics.interval", "3600s", err, sizeof(err));
	if (!logs)
		otlp_config_set(&c, "logs.enabled", "false", err, sizeof(err));
	struct otlp_exporter *e = NULL;
	CHECK_EQ_INT(otlp_exporter_create(&c, &e), 0);
	otlp_config_free(&c);
	return e;
}

TEST(bridge_queues_one_record_per_line_when_logs_are_on)
{
	log_configure(LOG_INFO, 2);
	struct otlp_exporter *e = idle_exporter(true);
	otlp_log_bridge_start(e);
	log_msg(LOG_INFO, "routing_decision", &ctx, "a -> b");
	log_msg(LOG_DEBUG, "filtered", &ctx, "below the level");
	log_msg(LOG_CRITICAL, "hold_timeout", &ctx, "closing");
	otlp_log_bridge_stop();
	log_msg(LOG_INFO, "after_stop", &ctx, "not bridged");
	struct otlp_stats st;
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_LOGS].queued, 2);
	otlp_exporter_destroy(e, 0);

	e = idle_exporter(false); /* telemetry.logs.enabled: false */
	otlp_log_bridge_start(e);
	log_msg(LOG_INFO, "routing_decision", &ctx, "a -> b");
	otlp_log_bridge_stop();
	otlp_exporter_stats(e, &st);
	CHECK_EQ_INT(st.sig[OTLP_LOGS].queued, 0);
	otlp_exporter_destroy(e, 0);
}

TEST_MAIN(TEST_ENTRY(hook_sees_the_line_as_rendered), TEST_ENTRY(ids_as_bytes_render_as_hex),
          TEST_ENTRY(no_hook_no_record_and_level_filter), TEST_ENTRY(view_attribute_copied_with_its_length),
          TEST_ENTRY(bridge_queues_one_record_per_line_when_logs_are_on))
