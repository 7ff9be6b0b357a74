/* otlp_config.c - the exporter's configuration: defaults, named options (config file and flags), the
 * standard OTEL_* environment variables, and the URL each signal is sent to. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/diag.h"
#include "core/errors.h"
#include "core/manifest.h"
#include "telemetry/otlp.h"

static const char *const signal_names[OTLP_NSIGNALS] = {"traces", "metrics", "logs"};
static const char *const signal_env[OTLP_NSIGNALS] = {"TRACES", "METRICS", "LOGS"};
static const char *const grpc_paths[OTLP_NSIGNALS] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

const char *otlp_signal_name(enum otlp_signal s)
{
	return (unsigned)s < OTLP_NSIGNALS ? signal_names[s] : "?";
}

void otlp_config_init(struct otlp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->protocol = OTLP_HTTP_PROTOBUF;
	c->timeout_ms = 10000;
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		c->sig[s].protocol = -1;
		c->sig[s].insecure = -1;
		c->sig[s].queue_size = 2048;
		c->sig[s].batch_size = 512;
		c->sig[s].interval_ms = 5000;
	}
	c->sig[OTLP_METRICS].interval_ms = 60000;
	c->sig[OTLP_METRICS].batch_size = 4096; /* data points per request */
	c->trace_ratio = 1.0;
	c->retry_initial_ms = 1000;
	c->retry_max_ms = 30000;
	c->retry_max_attempts = 5;
}

static void kv_free(struct otlp_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
		kv[i].key = kv[i].value = NULL;
	}
}

void otlp_config_free(struct otlp_config *c)
{
	free(c->endpoint);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	kv_free(c->headers, c->nheaders);
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		free(c->sig[s].endpoint);
		free(c->sig[s].ca_file);
		free(c->sig[s].cert_file);
		free(c->sig[s].key_file);
		kv_free(c->sig[s].headers, c->sig[s].nheaders);
	}
	free(c->service_name);
	free(c->service_version);
	free(c->instance_id);
	kv_free(c->resource, c->nresource);
	memset(c, 0, sizeof(*c));
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return FIXGW_EINVAL;
}

/* Replace *slot with a copy of value; an empty value clears it. */
static int set_str(char **slot, const char *value)
{
	char *n = NULL;
	if (value && *value && !(n = strdup(value)))
		return FIXGW_ENOMEM;
	free(*slot);
	*slot = n;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
		*out = false;
	else
		return FIXGW_EINVAL;
	return 0;
}

/* A plain number is milliseconds (as the OTEL_* variables say); "10s", "250ms", "1m" are accepted too. */
static int parse_ms(const char *v, uint32_t min, uint32_t *out)
{
	uint64_t ms;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*v && isdigit((unsigned char)*v) && *end == '\0' && errno == 0)
		ms = n;
	else if (manifest_parse_duration_ms(v, strlen(v), &ms) != 0)
		return FIXGW_EINVAL;
	if (ms < min || ms > 24ull * 3600 * 1000)
		return FIXGW_EINVAL;
	*out = (uint32_t)ms;
	return 0;
}

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || !isdigit((unsigned char)*v) || *end || errno || n < min || n > max)
		return FIXGW_EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int parse_protocol(const char *v, int *out)
{
	if (!strcmp(v, "grpc"))
		*out = OTLP_GRPC;
	else if (!strcmp(v, "http/protobuf") || !strcmp(v, "http"))
		*out = OTLP_HTTP_PROTOBUF;
	else
		return FIXGW_EINVAL;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Trim spaces and percent-decode [s, s+n) into a new string; NULL on bad encoding, control characters
 * (a header value must never smuggle a line break) or ENOMEM. */
static char *decode_part(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				goto bad;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* "k=v,k2=v2" (W3C baggage style, percent-encoded) appended to kv / *n, a later key replacing an earlier
 * one. Returns 0, FIXGW_EINVAL or FIXGW_ELIMIT. */
static int parse_kv_list(const char *v, struct otlp_kv *kv, size_t *n, size_t max)
{
	const char *p = v;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq) {
			for (size_t i = 0; i < len; i++)
				if (!isspace((unsigned char)p[i]))
					return FIXGW_EINVAL;
		} else {
			char *key = decode_part(p, (size_t)(eq - p));
			char *val = decode_part(eq + 1, len - (size_t)(eq - p) - 1);
			if (!key || !val || !*key) {
				free(key);
				free(val);
				return FIXGW_EINVAL;
			}
			size_t i = 0;
			while (i < *n && strcmp(kv[i].key, key) != 0)
				i++;
			if (i == *n) {
				if (*n == max) {
					free(key);
					free(val);
					return FIXGW_ELIMIT;
				}
				(*n)++;
			} else {
				free(kv[i].key);
				free(kv[i].value);
			}
			kv[i].key = key;
			kv[i].value = val;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int set_signal(struct otlp_config *c, struct otlp_signal_config *sc, const char *opt,
                      const char *value, const char *key, char *err, size_t errlen)
{
	bool b;
	int rc = 0;
	if (!strcmp(opt, "endpoint"))
		rc = set_str(&sc->endpoint, value);
	else if (!strcmp(opt, "protocol"))
		rc = parse_protocol(value, &sc->protocol);
	else if (!strcmp(opt, "insecure")) {
		if ((rc = parse_bool(value, &b)) == 0)
			sc->insecure = b;
	} else if (!strcmp(opt, "caFile"))
		rc = set_str(&sc->ca_file, value);
	else if (!strcmp(opt, "certFile"))
		rc = set_str(&sc->cert_file, value);
	else if (!strcmp(opt, "keyFile"))
		rc = set_str(&sc->key_file, value);
	else if (!strcmp(opt, "headers")) {
		rc = parse_kv_list(value, sc->headers, &sc->nheaders, OTLP_MAX_HEADERS);
		if (rc < 0)
			return fail(err, errlen,
			            "%s: expected key=value pairs separated by commas (at most %d)", key,
			            OTLP_MAX_HEADERS);
	} else if (!strcmp(opt, "timeout"))
		rc = parse_ms(value, 1, &sc->timeout_ms);
	else if (!strcmp(opt, "queueSize"))
		rc = parse_u32(value, 2, 1u << 20, &sc->queue_size);
	else if (!strcmp(opt, "batchSize"))
		rc = parse_u32(value, 1, 1u << 16, &sc->batch_size);
	else if (!strcmp(opt, "interval"))
		rc = parse_ms(value, 10, &sc->interval_ms);
	else if (!strcmp(opt, "enabled")) {
		if ((rc = parse_bool(value, &b)) == 0)
			sc->disabled = !b;
	} else
		return fail(err, errlen, "%s: unknown telemetry option", key);
	(void)c;
	if (rc == FIXGW_ENOMEM) {
		fail(err, errlen, "%s: out of memory", key);
		return FIXGW_ENOMEM;
	}
	if (rc < 0) {
		char q[DIAG_QUOTE_CAP];
		return fail(err, errlen, "%s: invalid value %s", key,
		            diag_quote(value, strlen(value), q, sizeof(q)));
	}
	return 0;
}

int otlp_config_set(struct otlp_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	bool b;
	int rc = 0;
	if (!value)
		value = "";
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		size_t n = strlen(signal_names[s]);
		if (!strncmp(key, signal_names[s], n) && key[n] == '.')
			return set_signal(c, &c->sig[s], key + n + 1, value, key, err, errlen);
	}
	if (!strncmp(key, "resource.", 9) && key[9]) {
		struct otlp_kv *kv = c->resource;
		size_t i = 0;
		while (i < c->nresource && strcmp(kv[i].key, key + 9) != 0)
			i++;
		if (i == c->nresource && c->nresource == OTLP_MAX_RESOURCE_ATTRS)
			return fail(err, errlen, "%s: more than %d resource attributes", key,
			            OTLP_MAX_RESOURCE_ATTRS);
		char *k = strdup(key + 9), *v = strdup(value);
		if (!k || !v) {
			free(k);
			free(v);
			return FIXGW_ENOMEM;
		}
		if (i == c->nresource)
			c->nresource++;
		else {
			free(kv[i].key);
			free(kv[i].value);
		}
		kv[i].key = k;
		kv[i].value = v;
		return 0;
	}
	if (!strcmp(key, "endpoint"))
		rc = set_str(&c->endpoint, value);
	else if (!strcmp(key, "protocol")) {
		int p;
		if ((rc = parse_protocol(value, &p)) == 0)
			c->protocol = (enum otlp_protocol)p;
	} else if (!strcmp(key, "insecure")) {
		if ((rc = parse_bool(value, &b)) == 0)
			c->insecure = b;
	} else if (!strcmp(key, "caFile"))
		rc = set_str(&c->ca_file, value);
	else if (!strcmp(key, "certFile"))
		rc = set_str(&c->cert_file, value);
	else if (!strcmp(key, "keyFile"))
		rc = set_str(&c->key_file, value);
	else if (!strcmp(key, "headers")) {
		rc = parse_kv_list(value, c->headers, &c->nheaders, OTLP_MAX_HEADERS);
		if (rc < 0)
			return fail(err, errlen,
			            "%s: expected key=value pairs separated by commas (at most %d)", key,
			            OTLP_MAX_HEADERS);
	} else if (!strcmp(key, "timeout"))
		rc = parse_ms(value, 1, &c->timeout_ms);
	else if (!strcmp(key, "serviceName"))
		rc = set_str(&c->service_name, value);
	else if (!strcmp(key, "serviceVersion"))
		rc = set_str(&c->service_version, value);
	else if (!strcmp(key, "instanceId"))
		rc = set_str(&c->instance_id, value);
	else if (!strcmp(key, "resourceAttributes")) {
		rc = parse_kv_list(value, c->resource, &c->nresource, OTLP_MAX_RESOURCE_ATTRS);
	} else if (!strcmp(key, "temporality")) {
		if (!strcasecmp(value, "cumulative"))
			c->temporality = OTLP_CUMULATIVE;
		else if (!strcasecmp(value, "delta"))
			c->temporality = OTLP_DELTA;
		else
			rc = FIXGW_EINVAL;
	} else if (!strcmp(key, "traceRatio")) {
		char *end;
		double r = strtod(value, &end);
		if (!*value || *end || !(r >= 0.0 && r <= 1.0))
			rc = FIXGW_EINVAL;
		else
			c->trace_ratio = r;
	} else if (!strcmp(key, "retryInitial"))
		rc = parse_ms(value, 1, &c->retry_initial_ms);
	else if (!strcmp(key, "retryMax"))
		rc = parse_ms(value, 1, &c->retry_max_ms);
	else if (!strcmp(key, "retryMaxAttempts"))
		rc = parse_u32(value, 1, 100, &c->retry_max_attempts);
	else
		return fail(err, errlen, "%s: unknown telemetry option", key);
	if (rc == FIXGW_ENOMEM) {
		fail(err, errlen, "%s: out of memory", key);
		return FIXGW_ENOMEM;
	}
	if (rc < 0) {
		char q[DIAG_QUOTE_CAP];
		if (!strcmp(key, "resourceAttributes"))
			return fail(err, errlen,
			            "%s: expected key=value pairs separated by commas (at most %d)", key,
			            OTLP_MAX_RESOURCE_ATTRS);
		return fail(err, errlen, "%s: invalid value %s", key,
		            diag_quote(value, strlen(value), q, sizeof(q)));
	}
	return 0;
}

/* One environment variable mapped to a named option; the error names the variable. */
static int env_apply(struct otlp_config *c, const char *(*get)(const char *), const char *var,
                     const char *key, char *err, size_t errlen)
{
	const char *v = get(var);
	if (!v || !*v)
		return 0;
	char inner[160];
	int rc = otlp_config_set(c, key, v, inner, sizeof(inner));
	if (rc < 0) {
		const char *colon = strchr(inner, ':');
		fail(err, errlen, "%s%s", var, colon ? colon : ": invalid");
	}
	return rc;
}

int otlp_config_from_env(struct otlp_config *c, const char *(*get)(const char *name), char *err,
                         size_t errlen)
{
	static const struct {
		const char *suffix, *key;
	} general[] = {
	    {"ENDPOINT", "endpoint"},  {"PROTOCOL", "protocol"},  {"INSECURE", "insecure"},
	    {"HEADERS", "headers"},    {"CERTIFICATE", "caFile"}, {"CLIENT_CERTIFICATE", "certFile"},
	    {"CLIENT_KEY", "keyFile"}, {"TIMEOUT", "timeout"},
	};
	static const struct {
		const char *var, *key;
	} other[] = {
	    {"OTEL_RESOURCE_ATTRIBUTES", "resourceAttributes"},
	    {"OTEL_SERVICE_NAME", "serviceName"},
	    {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "temporality"},
	    {"OTEL_BSP_SCHEDULE_DELAY", "traces.interval"},
	    {"OTEL_BSP_MAX_QUEUE_SIZE", "traces.queueSize"},
	    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "traces.batchSize"},
	    {"OTEL_BLRP_SCHEDULE_DELAY", "logs.interval"},
	    {"OTEL_BLRP_MAX_QUEUE_SIZE", "logs.queueSize"},
	    {"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "logs.batchSize"},
	    {"OTEL_METRIC_EXPORT_INTERVAL", "metrics.interval"},
	    {"OTEL_METRIC_EXPORT_TIMEOUT", "metrics.timeout"},
	};
	char var[96], key[64];
	int rc;
	const char *v = get("OTEL_SDK_DISABLED");
	if (v && !strcasecmp(v, "true")) {
		for (int s = 0; s < OTLP_NSIGNALS; s++)
			c->sig[s].disabled = true;
	}
	for (size_t i = 0; i < sizeof(general) / sizeof(general[0]); i++) {
		snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s", general[i].suffix);
		if ((rc = env_apply(c, get, var, general[i].key, err, errlen)) < 0)
			return rc;
		for (int s = 0; s < OTLP_NSIGNALS; s++) {
			snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s_%s", signal_env[s],
			         general[i].suffix);
			snprintf(key, sizeof(key), "%s.%s", signal_names[s], general[i].key);
			if ((rc = env_apply(c, get, var, key, err, errlen)) < 0)
				return rc;
		}
	}
	/* The spec's "lowmemory" preference is delta for counters too, in our (synchronous-free) model. */
	v = get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		if (v && !strcasecmp(v, "lowmemory") && !strcmp(other[i].key, "temporality")) {
			c->temporality = OTLP_DELTA;
			continue;
		}
		if ((rc = env_apply(c, get, other[i].var, other[i].key, err, errlen)) < 0)
			return rc;
	}
	for (int s = 0; s < OTLP_NSIGNALS; s++) {
		snprintf(var, sizeof(var), "OTEL_%s_EXPORTER", signal_env[s]);
		v = get(var);
		if (v && *v) {
			if (!strcmp(v, "none"))
				c->sig[s].disabled = true;
			else if (!strcmp(v, "otlp"))
				c->sig[s].disabled = false;
			else
				return fail(err, errlen, "%s: only \"otlp\" and \"none\" are supported", var);
		}
	}
	v = get("OTEL_TRACES_SAMPLER");
	if (v && (!strcmp(v, "always_off") || !strcmp(v, "parentbased_always_off")))
		c->trace_ratio = 0.0;
	else if (v && (!strcmp(v, "always_on") || !strcmp(v, "parentbased_always_on")))
		c->trace_ratio = 1.0;
	else if ((rc = env_apply(c, get, "OTEL_TRACES_SAMPLER_ARG", "traceRatio", err, errlen)) < 0)
		return rc;
	/* OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES (specification). */
	if (!get("OTEL_SERVICE_NAME") || !*get("OTEL_SERVICE_NAME")) {
		for (size_t i = 0; i < c->nresource; i++)
			if (!strcmp(c->resource[i].key, "service.name"))
				if ((rc = set_str(&c->service_name, c->resource[i].value)) < 0)
					return rc;
	}
	return 0;
}

static bool signal_on(const struct otlp_config *c, enum otlp_signal s)
{
	return !c->sig[s].disabled &&
	       ((c->sig[s].endpoint && *c->sig[s].endpoint) || (c->endpoint && *c->endpoint));
}

bool otlp_config_enabled(const struct otlp_config *c)
{
	for (int s = 0; s < OTLP_NSIGNALS; s++)
		if (signal_on(c, (enum otlp_signal)s))
			return true;
	return false;
}

int otlp_config_url(const struct otlp_config *c, enum otlp_signal s, char *out, size_t cap)
{
	if (!signal_on(c, s))
		return FIXGW_EINVAL;
	const struct otlp_signal_config *sc = &c->sig[s];
	enum otlp_protocol proto = sc->protocol >= 0 ? (enum otlp_protocol)sc->protocol : c->protocol;
	bool insecure = sc->insecure >= 0 ? sc->insecure : c->insecure;
	bool own = sc->endpoint && *sc->endpoint;
	const char *ep = own ? sc->endpoint : c->endpoint;
	bool has_scheme = !strncmp(ep, "http://", 7) || !strncmp(ep, "https://", 8);
	if (!has_scheme && strstr(ep, "://"))
		return FIXGW_EINVAL;
	const char *scheme = has_scheme ? "" : (insecure ? "http://" : "https://");
	int n;
	if (proto == OTLP_GRPC) {
		/* gRPC: scheme://host:port, then the method path; a path in the endpoint is not used. */
		const char *host = has_scheme ? strstr(ep, "://") + 3 : ep;
		size_t hostlen = strcspn(host, "/");
		size_t schemelen = has_scheme ? (size_t)(host - ep) : 0;
		n = snprintf(out, cap, "%s%.*s%.*s%s", scheme, (int)schemelen, ep, (int)hostlen, host,
		             grpc_paths[s]);
	} else if (own) {
		n = snprintf(out, cap, "%s%s", scheme, ep);
	} else {
		size_t len = strlen(ep);
		bool slash = len && ep[len - 1] == '/';
		n = snprintf(out, cap, "%s%s%sv1/%s", scheme, ep, slash ? "" : "/", signal_names[s]);
	}
	if (n < 0 || (size_t)n >= cap)
		return FIXGW_ELIMIT;
	return 0;
}
