/* fuzz_otlp_wire.c - libFuzzer target for what the OTLP exporter reads from the network or the
 * environment, and for the promise that whatever text a caller hands it, it sends protobuf a collector
 * accepts.
 *
 * The first byte picks the path; the rest is the input:
 *  0  gRPC response framing (otlp_grpc_unframe): a message view stays inside the input
 *  1  Export*ServiceResponse partial success, each signal (otlp_decode_partial): never negative but -1
 *  2  google.rpc.Status with RetryInfo (otlp_status_retry_delay), raw and as a base64 trailer
 *  3  Retry-After (otlp_parse_retry_after): at most one day
 *  4  header and resource lists (otlp_config_set): no control character ever gets into a value
 *  5+ a span and a log record with the input as name, attributes and body: the encoded request always
 *     unpacks (protobuf-c checks that strings are valid UTF-8), and the record stays within its bounds
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.pb-c.h"
#include "telemetry/otlp_transport.c"

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c))                                                                                    \
			abort();                                                                             \
	} while (0)

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static struct otlp_resource *resource(void)
{
	static struct otlp_resource *res;
	if (!res) {
		struct otlp_config c;
		otlp_config_init(&c);
		res = otlp_resource_new(&c, no_env);
		otlp_config_free(&c);
	}
	return res;
}

static void records(const uint8_t *data, size_t size)
{
	/* Split the input at NULs into up to 8 strings: name, body, keys and values. */
	char *copy = malloc(size + 1);
	CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *part[8] = {"", "", "", "", "", "", "", ""};
	size_t np = 0;
	for (size_t i = 0, start = 0; i <= size && np < 8; i++) {
		if (i == size || copy[i] == '\0') {
			copy[i] = '\0';
			part[np++] = copy + start;
			start = i + 1;
		}
	}
	struct otlp_attr attrs[3] = {OTLP_STR(part[2], part[3]), OTLP_STR(part[4], part[5]),
	                             OTLP_INT(part[6], 7)};
	struct otlp_span s = {.name = part[0],
	                      .status = OTLP_STATUS_ERROR,
	                      .status_message = part[1],
	                      .attrs = attrs,
	                      .nattrs = 3};
	s.trace_id[0] = 1;
	s.span_id[0] = 1;
	struct otlp_log l = {
	    .level = LOG_CRITICAL, .event = part[7], .body = part[1], .attrs = attrs, .nattrs = 3};
	static struct otlp_rec recs[2];
	otlp_rec_from_span(&recs[0], &s);
	otlp_rec_from_log(&recs[1], &l);
	for (int i = 0; i < 2; i++) {
		CHECK(recs[i].text_len <= OTLP_REC_TEXT);
		CHECK(recs[i].nattrs + recs[i].dropped_attrs == 3);
	}
	uint8_t *buf;
	size_t len;
	CHECK(otlp_encode_spans(resource(), recs, 1, &buf, &len) == 0);
	Otlp__ExportTraceServiceRequest *t = otlp__export_trace_service_request__unpack(NULL, len, buf);
	CHECK(t);
	otlp__export_trace_service_request__free_unpacked(t, NULL);
	free(buf);
	CHECK(otlp_encode_logs(resource(), recs + 1, 1, &buf, &len) == 0);
	Otlp__ExportLogsServiceRequest *lr = otlp__export_logs_service_request__unpack(NULL, len, buf);
	CHECK(lr);
	otlp__export_logs_service_request__free_unpacked(lr, NULL);
	free(buf);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	switch (mode) {
	case 0: {
		const uint8_t *msg;
		size_t n;
		if (otlp_grpc_unframe(data, size, &msg, &n) == 0)
			CHECK(msg >= data && msg + n <= data + size);
		break;
	}
	case 1:
		for (int s = 0; s < OTLP_NSIGNALS; s++)
			CHECK(otlp_decode_partial((enum otlp_signal)s, data, size) >= -1);
		break;
	case 2: {
		int64_t d = otlp_status_retry_delay(data, size);
		CHECK(d >= -1 && d <= 86400 * 1000 + 999);
		if (size <= MAX_DETAILS)
			CHECK(details_retry_delay((const char *)data, size) >= -1);
		break;
	}
	case 3:
		CHECK(otlp_parse_retry_after((const char *)data, size, 1700000000) <= 86400u * 1000u);
		break;
	case 4: {
		char *v = malloc(size + 1);
		CHECK(v);
		memcpy(v, data, size);
		v[size] = '\0';
		struct otlp_config c;
		char err[160];
		otlp_config_init(&c);
		if (otlp_config_set(&c, "headers", v, err, sizeof(err)) == 0)
			for (size_t i = 0; i < c.nheaders; i++)
				for (const char *p = c.headers[i].value; *p; p++)
					CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		otlp_config_set(&c, "resourceAttributes", v, err, sizeof(err));
		otlp_config_free(&c);
		free(v);
		break;
	}
	default:
		records(data, size);
		break;
	}
	return 0;
}
