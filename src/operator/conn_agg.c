/* conn_agg.c - parse, sum and compare FIXSession connection counts (conn_agg.h). */
#define _DEFAULT_SOURCE /* timegm */
#include "operator/conn_agg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const fields[] = {"active", "held", "orphaned", "last_connection_unix_ms",
                                     "last_routing_unix_ms"};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

json_t *cc_parse(const char *body, size_t len, char *err, size_t err_cap)
{
	json_error_t je;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		snprintf(err, err_cap, "not JSON: %s (byte %d)", je.text, je.position);
		return NULL;
	}
	json_t *fs = json_incref(json_object_get(doc, "fixsessions"));
	json_decref(doc);
	if (!json_is_object(fs)) {
		snprintf(err, err_cap, "no \"fixsessions\" object");
		goto bad;
	}
	const char *key;
	json_t *v;
	json_object_foreach(fs, key, v)
	{
		for (size_t i = 0; i < NFIELDS; i++) {
			json_t *f = json_object_get(v, fields[i]);
			if (!json_is_integer(f) || json_integer_value(f) < 0) {
				snprintf(err, err_cap, "%.200s: \"%s\" is not a non-negative integer", key,
				         fields[i]);
				goto bad;
			}
		}
	}
	return fs;
bad:
	json_decref(fs);
	return NULL;
}

bool cc_expired(const struct cc_pod_doc *p, uint64_t now_ms, uint64_t expiry_ms)
{
	return !p->doc || now_ms - p->ok_ms > expiry_ms;
}

json_t *cc_sum(const struct cc_pod_doc *pods, size_t n, uint64_t now_ms, uint64_t expiry_ms)
{
	json_t *sum = json_object();
	for (size_t p = 0; sum && p < n; p++) {
		if (cc_expired(&pods[p], now_ms, expiry_ms))
			continue;
		const char *key;
		json_t *v;
		json_object_foreach(pods[p].doc, key, v)
		{
			json_t *acc = json_object_get(sum, key);
			if (!acc && (!(acc = json_pack("[IIIII]", 0, 0, 0, 0, 0)) ||
			             json_object_set_new(sum, key, acc)))
				goto nomem;
			for (size_t i = 0; i < NFIELDS; i++) {
				json_int_t have = json_integer_value(json_array_get(acc, i));
				json_int_t add = json_integer_value(json_object_get(v, fields[i]));
				json_int_t next = i < 3 ? have + add : (add > have ? add : have);
				if (json_integer_set(json_array_get(acc, i), next))
					goto nomem;
			}
		}
	}
	return sum;
nomem:
	json_decref(sum);
	return NULL;
}

void cc_counts_of(json_t *sum, const char *key, struct cc_counts *out)
{
	json_t *a = json_object_get(sum, key);
	*out = (struct cc_counts){
	    .active = json_integer_value(json_array_get(a, 0)),
	    .held = json_integer_value(json_array_get(a, 1)),
	    .orphaned = json_integer_value(json_array_get(a, 2)),
	    .last_connection_ms = json_integer_value(json_array_get(a, 3)),
	    .last_routing_ms = json_integer_value(json_array_get(a, 4)),
	};
}

/* Seconds since the epoch of an RFC 3339 time (fractions and zones other than Z are read as UTC: the
 * operator writes whole seconds in Z), or -1. */
static int64_t rfc3339_s(const char *s)
{
	struct tm tm = {0};
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	                 &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* The time status field `name` should say, or 0 when it should stay as it is. */
static int64_t forward_s(json_t *status, const char *name, int64_t unix_ms)
{
	int64_t want = unix_ms / 1000;
	if (unix_ms <= 0)
		return 0;
	return want > rfc3339_s(json_string_value(json_object_get(status, name))) ? want : 0;
}

static bool int_is(json_t *status, const char *name, int64_t v)
{
	json_t *f = json_object_get(status, name);
	return json_is_integer(f) && json_integer_value(f) == v;
}

bool cc_status_matches(json_t *status, const struct cc_counts *c)
{
	return int_is(status, "activeConnections", c->active) && int_is(status, "heldConnections", c->held) &&
	       int_is(status, "orphanedConnections", c->orphaned) &&
	       !forward_s(status, "lastConnectionTime", c->last_connection_ms) &&
	       !forward_s(status, "lastRoutingTime", c->last_routing_ms);
}

static int set_time(json_t *status, const char *name, int64_t s)
{
	if (!s)
		return 0;
	time_t t = (time_t)s;
	struct tm tm;
	char buf[40];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_set_new(status, name, json_string(buf)) ? -ENOMEM : 0;
}

int cc_status_apply(json_t *status, const struct cc_counts *c)
{
	if (json_object_set_new(status, "activeConnections", json_integer(c->active)) ||
	    json_object_set_new(status, "heldConnections", json_integer(c->held)) ||
	    json_object_set_new(status, "orphanedConnections", json_integer(c->orphaned)))
		return -ENOMEM;
	int rc = set_time(status, "lastConnectionTime",
	                  forward_s(status, "lastConnectionTime", c->last_connection_ms));
	return rc ? rc
	          : set_time(status, "lastRoutingTime",
	                     forward_s(status, "lastRoutingTime", c->last_routing_ms));
}
