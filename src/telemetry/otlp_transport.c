/* otlp_transport.c - one export request over libcurl: OTLP/HTTP (protobuf body, POST /v1/<signal>) or
 * OTLP/gRPC (HTTP/2 h2c or TLS, length-prefixed message, grpc-status read from the trailers), and what the
 * answer means for retrying.
 *
 * libcurl hands HTTP/2 trailers to CURLOPT_HEADERFUNCTION like any other header line, after the body, so
 * one header callback reads grpc-status / grpc-message / grpc-status-details-bin whether the server sent
 * them as trailers or (Trailers-Only answer) as headers. */
#include <ctype.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/errors.h"
#include "core/grow.h"
#include "telemetry/otlp_internal.h"

#define MAX_RESPONSE (1u << 20) /* a reply larger than this is cut: an exporter needs only its head */
#define MAX_DETAILS  4096       /* base64 grpc-status-details-bin we decode */

/* ---- pure parts ---- */

void otlp_grpc_frame(uint8_t prefix[5], size_t len)
{
	prefix[0] = 0; /* not compressed */
	prefix[1] = (uint8_t)(len >> 24);
	prefix[2] = (uint8_t)(len >> 16);
	prefix[3] = (uint8_t)(len >> 8);
	prefix[4] = (uint8_t)len;
}

int otlp_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len)
{
	*msg = body;
	*msg_len = 0;
	if (len == 0)
		return 0;
	if (len < 5 || body[0] != 0)
		return FIXGW_EINVAL;
	size_t n = (size_t)body[1] << 24 | (size_t)body[2] << 16 | (size_t)body[3] << 8 | body[4];
	if (n != len - 5)
		return FIXGW_EINVAL;
	*msg = body + 5;
	*msg_len = n;
	return 0;
}

enum otlp_outcome otlp_classify_http(int status)
{
	if (status >= 200 && status < 300)
		return OTLP_SENT;
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return OTLP_RETRYABLE;
	if (status == 413)
		return OTLP_TOO_LARGE;
	return OTLP_FAILED;
}

enum otlp_outcome otlp_classify_grpc(int grpc_status, bool has_retry_info)
{
	switch (grpc_status) {
	case 0: /* OK */
		return OTLP_SENT;
	case 1:  /* CANCELLED */
	case 4:  /* DEADLINE_EXCEEDED */
	case 10: /* ABORTED */
	case 11: /* OUT_OF_RANGE */
	case 14: /* UNAVAILABLE */
	case 15: /* DATA_LOSS */
		return OTLP_RETRYABLE;
	case 8: /* RESOURCE_EXHAUSTED: throttled when RetryInfo says when; otherwise the message was too big
	         */
		return has_retry_info ? OTLP_RETRYABLE : OTLP_TOO_LARGE;
	default:
		return OTLP_FAILED;
	}
}

uint32_t otlp_parse_retry_after(const char *v, size_t len, int64_t now_unix)
{
	char buf[64];
	while (len && isspace((unsigned char)*v))
		v++, len--;
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, v, len);
	buf[len] = '\0';
	int64_t secs;
	if (isdigit((unsigned char)buf[0])) {
		char *end;
		unsigned long long n = strtoull(buf, &end, 10);
		if (*end)
			return 0;
		secs = n > 86400 ? 86400 : (int64_t)n;
	} else {
		struct tm tm = {0};
		const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (!end || *end)
			return 0;
		secs = (int64_t)timegm(&tm) - now_unix;
		if (secs <= 0)
			return 1; /* a date in the past: retry now (0 would mean "no Retry-After") */
		if (secs > 86400)
			secs = 86400;
	}
	return secs ? (uint32_t)(secs * 1000) : 1;
}

uint32_t otlp_backoff_ms(uint32_t attempt, uint32_t initial_ms, uint32_t max_ms, uint64_t r)
{
	uint64_t d = initial_ms ? initial_ms : 1;
	for (uint32_t i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	uint64_t half = d / 2;
	return (uint32_t)(d - half + r % (half + 1));
}

/* ---- libcurl ---- */

struct otlp_transport {
	CURL *curl;
	bool h2c_no_reuse; /* libcurl < 7.89.0 breaks the second request on a reused prior-knowledge HTTP/2
	                    * connection ("Error in the HTTP2 framing layer", curl issue 10634, fixed in
	                    * 7.89.0): such libcurls get a fresh h2c connection per gRPC export */
	_Atomic uint64_t abort_at_ms;
	char url[OTLP_NSIGNALS][512];
	enum otlp_protocol proto[OTLP_NSIGNALS];
	struct curl_slist *headers[OTLP_NSIGNALS];
	char *ca_file[OTLP_NSIGNALS], *cert_file[OTLP_NSIGNALS], *key_file[OTLP_NSIGNALS];
	/* per request */
	uint8_t *resp;
	size_t resp_len, resp_cap;
	int grpc_status;
	char grpc_message[128];
	char details[MAX_DETAILS + 1];
	size_t details_len;
	uint32_t retry_after_ms;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct otlp_transport *t = arg;
	size_t len = size * n;
	size_t take = t->resp_len + len > MAX_RESPONSE ? MAX_RESPONSE - t->resp_len : len;
	if (take && GROW_ARRAY(t->resp, t->resp_cap, t->resp_len + take, 1024) != 0)
		return len; /* keep reading, just without the body */
	if (take) {
		memcpy(t->resp + t->resp_len, p, take);
		t->resp_len += take;
	}
	return len;
}

/* "Name: value\r\n" -> value and its length when the name matches (case-insensitive). */
static bool header_is(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1;
	size_t l = len - n - 1;
	while (l && (*v == ' ' || *v == '\t'))
		v++, l--;
	while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
		l--;
	*val = v;
	*vlen = l;
	return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct otlp_transport *t = arg;
	size_t len = size * n;
	const char *v;
	size_t vl;
	if (header_is(line, len, "grpc-status", &v, &vl)) {
		char buf[12];
		if (vl && vl < sizeof(buf)) {
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			t->grpc_status = atoi(buf);
		}
	} else if (header_is(line, len, "grpc-message", &v, &vl)) {
		snprintf(t->grpc_message, sizeof(t->grpc_message), "%.*s", (int)vl, v);
	} else if (header_is(line, len, "grpc-status-details-bin", &v, &vl)) {
		if (vl <= MAX_DETAILS) {
			memcpy(t->details, v, vl);
			t->details_len = vl;
		}
	} else if (header_is(line, len, "retry-after", &v, &vl)) {
		t->retry_after_ms = otlp_parse_retry_after(v, vl, (int64_t)time(NULL));
	}
	return len;
}

/* grpc-status-details-bin is unpadded base64 of a google.rpc.Status. Returns the RetryInfo delay or -1. */
static int64_t details_retry_delay(const char *b64, size_t len)
{
	char padded[MAX_DETAILS + 4];
	unsigned char raw[MAX_DETAILS];
	if (len == 0 || len > MAX_DETAILS)
		return -1;
	memcpy(padded, b64, len);
	while (len % 4)
		padded[len++] = '=';
	int n = EVP_DecodeBlock(raw, (const unsigned char *)padded, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts padding as zero bytes; drop them again. */
	for (size_t i = len; i > 0 && padded[i - 1] == '=' && n > 0; i--)
		n--;
	return otlp_status_retry_delay(raw, (size_t)n);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

void otlp_transport_abort_at(struct otlp_transport *t, uint64_t abort_at_ms)
{
	atomic_store(&t->abort_at_ms, abort_at_ms);
}

/* libcurl calls this about once a second (and on every transfer event): non-zero aborts the request. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct otlp_transport *t = arg;
	uint64_t at = atomic_load(&t->abort_at_ms);
	return at && mono_ms() >= at;
}

/* curl_slist_append that frees the list when it fails, so a failure never leaks the lines before. */
static struct curl_slist *append(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);
	if (!n)
		curl_slist_free_all(h);
	return n;
}

/* "Key: value" into line; false when it does not fit (never cut a credential silently). */
static bool header_line(char *line, size_t cap, const struct otlp_kv *kv)
{
	int n = snprintf(line, cap, "%s: %s", kv->key, kv->value);
	return n >= 0 && (size_t)n < cap;
}

static char *dup_or_null(const char *a, const char *b)
{
	const char *s = a && *a ? a : b;
	return s && *s ? strdup(s) : NULL;
}

int otlp_transport_new(const struct otlp_config *cfg, struct otlp_transport **out)
{
	struct otlp_transport *t = calloc(1, sizeof(*t));
	if (!t)
		return FIXGW_ENOMEM;
	t->curl = curl_easy_init();
	if (!t->curl)
		goto free_t;
	t->h2c_no_reuse = curl_version_info(CURLVERSION_NOW)->version_num < 0x075900;
	char line[4096];
	struct curl_slist *h = NULL;
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		const struct otlp_signal_config *sc = &cfg->sig[s];
		if (otlp_config_url(cfg, (enum otlp_signal)s, t->url[s], sizeof(t->url[s])) < 0) {
			t->url[s][0] = '\0';
			continue;
		}
		t->proto[s] = sc->protocol >= 0 ? (enum otlp_protocol)sc->protocol : cfg->protocol;
		t->ca_file[s] = dup_or_null(sc->ca_file, cfg->ca_file);
		t->cert_file[s] = dup_or_null(sc->cert_file, cfg->cert_file);
		t->key_file[s] = dup_or_null(sc->key_file, cfg->key_file);
		if (t->proto[s] == OTLP_GRPC) {
			h = append(NULL, "Content-Type: application/grpc");
			h = h ? append(h, "TE: trailers") : NULL;
		} else {
			h = append(NULL, "Content-Type: application/x-protobuf");
		}
		h = h ? append(h, "Expect:") : NULL; /* no 100-continue round trip */
		/* General headers unless the signal sets the same name. */
		for (size_t i = 0; h && i < cfg->nheaders; i++) {
			bool overridden = false;
			for (size_t k = 0; k < sc->nheaders; k++)
				overridden |= strcasecmp(sc->headers[k].key, cfg->headers[i].key) == 0;
			if (overridden)
				continue;
			if (!header_line(line, sizeof(line), &cfg->headers[i]))
				goto too_long;
			h = append(h, line);
		}
		for (size_t k = 0; h && k < sc->nheaders; k++) {
			if (!header_line(line, sizeof(line), &sc->headers[k]))
				goto too_long;
			h = append(h, line);
		}
		explicit_bzero(line, sizeof(line));
		if (!h)
			goto free_t;
		t->headers[s] = h;
	}
	*out = t;
	return 0;
too_long:
	explicit_bzero(line, sizeof(line));
	curl_slist_free_all(h);
	otlp_transport_free(t);
	return FIXGW_ELIMIT;
free_t:
	otlp_transport_free(t);
	return FIXGW_ENOMEM;
}

void otlp_transport_free(struct otlp_transport *t)
{
	if (!t)
		return;
	if (t->curl)
		curl_easy_cleanup(t->curl);
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		curl_slist_free_all(t->headers[s]);
		free(t->ca_file[s]);
		free(t->cert_file[s]);
		free(t->key_file[s]);
	}
	free(t->resp);
	free(t);
}

void otlp_transport_send(struct otlp_transport *t, enum otlp_signal s, const uint8_t *body, size_t len,
                         uint32_t timeout_ms, struct otlp_result *res)
{
	memset(res, 0, sizeof(*res));
	res->grpc_status = -1;
	res->outcome = OTLP_FAILED;
	t->resp_len = 0;
	t->grpc_status = -1;
	t->grpc_message[0] = '\0';
	t->details_len = 0;
	t->retry_after_ms = 0;
	if (!t->url[s][0]) {
		snprintf(res->error, sizeof(res->error), "%s export is off", otlp_signal_name(s));
		return;
	}
	bool grpc = t->proto[s] == OTLP_GRPC;
	uint8_t *framed = NULL;
	if (grpc) {
		framed = malloc(len + 5);
		if (!framed) {
			res->outcome = OTLP_RETRYABLE;
			snprintf(res->error, sizeof(res->error), "out of memory");
			return;
		}
		otlp_grpc_frame(framed, len);
		memcpy(framed + 5, body, len);
		body = framed;
		len += 5;
	}
	bool h2c = grpc && strncmp(t->url[s], "https:", 6) != 0;
	if (h2c && t->h2c_no_reuse) {
		/* A new handle, so no state (and no connection) of the last request is reused. */
		CURL *fresh = curl_easy_init();
		if (fresh) {
			curl_easy_cleanup(t->curl);
			t->curl = fresh;
		}
	}
	CURL *c = t->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, t->url[s]);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers[s]);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fixgw-otlp/" FIXGW_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
	if (grpc) /* h2c with prior knowledge on http://, HTTP/2 through ALPN on https:// */
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		                 strncmp(t->url[s], "https:", 6) == 0
		                     ? (long)CURL_HTTP_VERSION_2TLS
		                     : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	if (t->ca_file[s])
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file[s]);
	if (t->cert_file[s])
		curl_easy_setopt(c, CURLOPT_SSLCERT, t->cert_file[s]);
	if (t->key_file[s])
		curl_easy_setopt(c, CURLOPT_SSLKEY, t->key_file[s]);

	CURLcode cc = curl_easy_perform(c);
	free(framed);
	long http = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
	res->http_status = (int)http;
	res->retry_after_ms = t->retry_after_ms;
	/* A gRPC server may answer an unknown method with a Trailers-Only response and then reset the stream
	 * while the request body is still going out: libcurl reports the reset, but the answer was read. */
	if (cc != CURLE_OK && grpc && http == 200 && t->grpc_status > 0)
		cc = CURLE_OK;
	if (cc != CURLE_OK) {
		/* No answer: connection refused, reset, timeout, TLS failure. The OTLP specification treats
		 * transport failures as transient, except a certificate the client will never accept. */
		bool permanent = cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
		                 cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT;
		res->outcome = permanent ? OTLP_FAILED : OTLP_RETRYABLE;
		snprintf(res->error, sizeof(res->error), "%s", curl_easy_strerror(cc));
		return;
	}
	if (!grpc) {
		res->outcome = otlp_classify_http((int)http);
		if (res->outcome == OTLP_SENT) {
			res->rejected = otlp_decode_partial(s, t->resp, t->resp_len);
			if (res->rejected < 0)
				res->rejected = 0; /* a 2xx with a body we cannot read still means accepted */
		} else {
			/* The body of an error answer is a google.rpc.Status; only its RetryInfo matters
			 * here. */
			int64_t d = otlp_status_retry_delay(t->resp, t->resp_len);
			if (!res->retry_after_ms && d > 0)
				res->retry_after_ms = (uint32_t)d;
			snprintf(res->error, sizeof(res->error), "HTTP %ld", http);
		}
		return;
	}
	if (http != 200) {
		res->outcome = otlp_classify_http((int)http) == OTLP_RETRYABLE ? OTLP_RETRYABLE : OTLP_FAILED;
		snprintf(res->error, sizeof(res->error), "gRPC call answered HTTP %ld", http);
		return;
	}
	res->grpc_status = t->grpc_status;
	if (t->grpc_status < 0) {
		res->outcome = OTLP_RETRYABLE;
		snprintf(res->error, sizeof(res->error), "gRPC answer without grpc-status");
		return;
	}
	int64_t delay = details_retry_delay(t->details, t->details_len);
	res->outcome = otlp_classify_grpc(t->grpc_status, delay >= 0);
	if (delay > 0)
		res->retry_after_ms = (uint32_t)(delay > UINT32_MAX ? UINT32_MAX : delay);
	if (res->outcome == OTLP_SENT) {
		const uint8_t *msg;
		size_t mlen;
		if (otlp_grpc_unframe(t->resp, t->resp_len, &msg, &mlen) == 0) {
			res->rejected = otlp_decode_partial(s, msg, mlen);
			if (res->rejected < 0)
				res->rejected = 0;
		}
	} else {
		/* grpc-message is percent-encoded by the server; shown as it came, quoted by the logger. */
		snprintf(res->error, sizeof(res->error), "grpc-status %d %s", t->grpc_status,
		         t->grpc_message);
	}
}
