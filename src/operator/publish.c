/* publish.c - the operator publishes the validated routing table as ConfigMap shards and an index
 * (publish.h, ADR-010). */
#include "operator/publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "k8s/api.h"
#include "k8s/informer.h"
#include "k8s/route_shards.h"
#include "telemetry/log.h"

#define RETRY_MS      1000u
#define INDEX_RETRIES 3 /* creates that meet AlreadyExists (another writer) before giving up this round */

static const struct log_ctx pub_log = {.component = "operator"};

struct op_publish {
	struct k8s_client *c;
	char ns[64], name[254], selector[300];
	uint32_t gc_ms;
	struct k8s_informer *inf;
	atomic_bool recheck;  /* the informer saw a change: compare the API server with the wanted table */
	struct rs_table want; /* the table the leader wants published */
	bool have_want, dirty;
	bool seeded;
	uint64_t generation; /* of the index last written or seen */
	uint64_t retry_at;
	json_t *unref;    /* shard name -> when it was first seen unreferenced (ms) */
	char *last_error; /* the failure logged last: logged again only when it changes */
};

static void mark(struct op_publish *p)
{
	atomic_store(&p->recheck, true);
}
static void on_add(void *arg, const char *key, void *obj)
{
	(void)key;
	(void)obj;
	mark(arg);
}
static void on_update(void *arg, const char *key, void *o, void *n)
{
	(void)key;
	(void)o;
	(void)n;
	mark(arg);
}

int op_publish_new(struct k8s_client *c, const struct op_publish_opts *o, struct op_publish **out)
{
	*out = NULL;
	const char *name = o->name && o->name[0] ? o->name : RS_DEFAULT_INDEX;
	if (!o->namespace_ || !o->namespace_[0] || strlen(o->namespace_) >= 64 || strlen(name) >= 254)
		return FIXGW_EINVAL;
	struct op_publish *p = calloc(1, sizeof(*p));
	if (!p || !(p->unref = json_object())) {
		free(p);
		return FIXGW_ENOMEM;
	}
	p->c = c;
	snprintf(p->ns, sizeof(p->ns), "%s", o->namespace_);
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->selector, sizeof(p->selector), RS_LABEL "=%s", name);
	p->gc_ms = o->gc_grace_ms ? o->gc_grace_ms : OP_DEFAULT_PUBLISH_GC_MS;
	struct k8s_informer_opts io = {.namespace_ = p->ns, .label_selector = p->selector};
	struct k8s_informer_handlers h = {
	    .arg = p, .on_add = on_add, .on_update = on_update, .on_delete = on_add};
	int rc = k8s_informer_new(c, &k8s_res_configmaps, &io, &h, &p->inf);
	if (rc) {
		op_publish_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int op_publish_start(struct op_publish *p)
{
	return k8s_informer_start(p->inf);
}

bool op_publish_synced(struct op_publish *p)
{
	return k8s_informer_synced(p->inf);
}

uint64_t op_publish_generation(struct op_publish *p)
{
	return p->generation;
}

void op_publish_free(struct op_publish *p)
{
	if (!p)
		return;
	k8s_informer_free(p->inf);
	rs_table_free(&p->want);
	json_decref(p->unref);
	free(p->last_error);
	free(p);
}

static void log_failure(struct op_publish *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_failure(struct op_publish *p, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->last_error && !strcmp(p->last_error, msg))
		return;
	free(p->last_error);
	p->last_error = strdup(msg);
	log_msg(LOG_ERROR, "publish_failed", &pub_log, "%s; retrying", msg);
}

/* ---- reading the cache (borrowed objects, under the informer's lock) ---- */

static const char *data_str(const void *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(json_object_get((json_t *)obj, "data"), key);
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

enum shard_state { SHARD_MISSING, SHARD_OK, SHARD_BAD };

struct shard_look {
	const char *name;
	enum shard_state st;
	char rv[64];
};

static bool shard_matches(const void *obj, const char *name)
{
	size_t len;
	const char *text = data_str(obj, RS_DATA_KEY, &len);
	char hex[RS_HASH_HEX + 1];
	if (!text)
		return false;
	rs_sha256_hex(text, len, hex);
	return !strcmp(hex, name + sizeof(RS_SHARD_PREFIX) - 1);
}

static void look_shard(void *arg, const void *obj)
{
	struct shard_look *l = arg;
	if (!obj)
		return;
	l->st = shard_matches(obj, l->name) ? SHARD_OK : SHARD_BAD;
	const char *rv = k8s_object_rv((json_t *)obj);
	snprintf(l->rv, sizeof(l->rv), "%s", rv ? rv : "");
}

static enum shard_state cached_shard(struct op_publish *p, const char *name, char *rv, size_t rv_cap)
{
	char key[400];
	snprintf(key, sizeof(key), "%s/%s", p->ns, name);
	struct shard_look l = {name, SHARD_MISSING, ""};
	k8s_informer_get(p->inf, key, look_shard, &l);
	snprintf(rv, rv_cap, "%s", l.rv);
	return l.st;
}

/* The cached index's digest into out ("" when there is none). */
static void look_index(void *arg, const void *obj)
{
	char *out = arg;
	const char *d = obj ? data_str(obj, RS_DIGEST_KEY, NULL) : NULL;
	snprintf(out, RS_HASH_HEX + 1, "%s", d ? d : "");
}

static uint64_t parse_generation(const char *s)
{
	char *end;
	if (!s || !*s)
		return 0;
	unsigned long long g = strtoull(s, &end, 10);
	return *end || g > UINT64_MAX / 2 ? 0 : (uint64_t)g;
}

/* ---- writing ---- */

static json_t *configmap(const struct op_publish *p, const char *name, bool immutable, json_t *data)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:o}", "apiVersion", "v1", "kind",
	                      "ConfigMap", "metadata", "name", name, "namespace", p->ns, "labels", RS_LABEL,
	                      p->name, "app.kubernetes.io/managed-by", "fixgw-operator", "data", data);
	if (o && immutable && json_object_set_new(o, "immutable", json_true())) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int create_shard(struct op_publish *p, const struct rs_shard *s)
{
	json_t *obj = configmap(p, s->name, true, json_pack("{s:s%}", RS_DATA_KEY, s->text, s->len));
	if (!obj)
		return FIXGW_ENOMEM;
	struct k8s_result res = {0};
	int rc = k8s_create(p->c, &k8s_res_configmaps, p->ns, obj, NULL, &res);
	json_decref(obj);
	if (rc && rc != K8S_EEXISTS)
		log_failure(p, "cannot create the shard %s/%s: %s (%ld %s)", p->ns, s->name, k8s_strerror(rc),
		            res.status, res.message);
	return rc;
}

/* Make one shard exist with its content. */
static int ensure_shard(struct op_publish *p, const struct rs_shard *s, struct k8s_leader *le, bool *created)
{
	char rv[64];
	enum shard_state st = cached_shard(p, s->name, rv, sizeof(rv));
	if (st == SHARD_OK)
		return 0;
	if (!k8s_leader_is_leader(le))
		return FIXGW_EAGAIN;
	int rc;
	if (st == SHARD_MISSING) {
		rc = create_shard(p, s);
		if (rc != K8S_EEXISTS) {
			*created = !rc;
			return rc;
		}
		/* it exists and the cache has not seen it yet: read it to check its content */
		json_t *live = NULL;
		struct k8s_result res = {0};
		rc = k8s_get(p->c, &k8s_res_configmaps, p->ns, s->name, &live, &res);
		if (rc) {
			log_failure(p, "cannot read the shard %s/%s: %s (%ld %s)", p->ns, s->name,
			            k8s_strerror(rc), res.status, res.message);
			return rc;
		}
		bool ok = shard_matches(live, s->name);
		const char *lrv = k8s_object_rv(live);
		snprintf(rv, sizeof(rv), "%s", lrv ? lrv : "");
		json_decref(live);
		if (ok)
			return 0;
	}
	/* Its content does not match its name (edited, or torn): replace it. */
	log_msg(LOG_WARN, "shard_repaired", &pub_log,
	        "the shard %s/%s does not match its name (edited?): deleting and creating it again", p->ns,
	        s->name);
	if (!k8s_leader_is_leader(le))
		return FIXGW_EAGAIN;
	struct k8s_result res = {0};
	rc = k8s_delete(p->c, &k8s_res_configmaps, p->ns, s->name, rv[0] ? rv : NULL, &res);
	if (rc && rc != K8S_ENOTFOUND) {
		log_failure(p, "cannot delete the damaged shard %s/%s: %s (%ld %s)", p->ns, s->name,
		            k8s_strerror(rc), res.status, res.message);
		return rc;
	}
	if (!k8s_leader_is_leader(le))
		return FIXGW_EAGAIN;
	rc = create_shard(p, s);
	*created = !rc;
	return rc;
}

struct index_ctx {
	struct op_publish *p;
	struct k8s_leader *le;
	uint64_t generation;
	bool fenced, current;
};

/* RetryOnConflict's mutation of the live index. */
static int mutate_index(void *arg, json_t *obj)
{
	struct index_ctx *x = arg;
	struct op_publish *p = x->p;
	if (!k8s_leader_is_leader(x->le)) {
		x->fenced = true;
		return FIXGW_EAGAIN;
	}
	uint64_t gen = parse_generation(data_str(obj, RS_GENERATION_KEY, NULL));
	size_t len;
	const char *digest = data_str(obj, RS_DIGEST_KEY, NULL), *table = data_str(obj, RS_INDEX_KEY, &len);
	if (digest && !strcmp(digest, p->want.digest) && table && len == p->want.index_len &&
	    !memcmp(table, p->want.index, len)) {
		x->current = true;
		x->generation = gen;
		return -EALREADY;
	}
	if (gen < p->generation)
		gen = p->generation; /* never go back, even if someone rewrote the index */
	x->generation = gen + 1;
	char g[24];
	snprintf(g, sizeof(g), "%" PRIu64, x->generation);
	json_t *data = json_pack("{s:s,s:s,s:s%}", RS_GENERATION_KEY, g, RS_DIGEST_KEY, p->want.digest,
	                         RS_INDEX_KEY, p->want.index, p->want.index_len);
	json_t *meta = json_object_get(obj, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	if (!labels && json_object_set_new(meta, "labels", labels = json_object()))
		labels = NULL;
	if (!data || !labels || json_object_set_new(labels, RS_LABEL, json_string(p->name)) ||
	    json_object_set_new(obj, "data", data))
		return FIXGW_ENOMEM;
	return 0;
}

static void copy_obj(void *arg, const void *obj)
{
	*(json_t **)arg = obj ? json_deep_copy((const json_t *)obj) : NULL;
}

static int write_index(struct op_publish *p, struct k8s_leader *le, bool *wrote)
{
	char key[400];
	snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
	for (int attempt = 0; attempt < INDEX_RETRIES; attempt++) {
		struct index_ctx x = {p, le, 0, false, false};
		struct k8s_result res = {0};
		/* The cached index is the first attempt's object (a GET saved on the apply-to-routable path);
		 * when it is stale the update meets 409 and RetryOnConflict reads the live one. */
		json_t *cached = NULL;
		if (attempt == 0)
			k8s_informer_get(p->inf, key, copy_obj, &cached);
		int rc = k8s_retry_on_conflict(p->c, &k8s_res_configmaps, p->ns, p->name, false, cached,
		                               mutate_index, &x, 0, NULL, &res);
		json_decref(cached);
		if (x.fenced)
			return FIXGW_EAGAIN;
		if (x.current) {
			p->generation = x.generation;
			return 0;
		}
		if (!rc) {
			p->generation = x.generation;
			*wrote = true;
			return 0;
		}
		if (rc != K8S_ENOTFOUND) {
			log_failure(p, "cannot write the index %s/%s: %s (%ld %s)", p->ns, p->name,
			            k8s_strerror(rc), res.status, res.message);
			return rc;
		}
		if (!k8s_leader_is_leader(le))
			return FIXGW_EAGAIN;
		uint64_t gen = p->generation + 1;
		char g[24];
		snprintf(g, sizeof(g), "%" PRIu64, gen);
		json_t *obj =
		    configmap(p, p->name, false,
		              json_pack("{s:s,s:s,s:s%}", RS_GENERATION_KEY, g, RS_DIGEST_KEY, p->want.digest,
		                        RS_INDEX_KEY, p->want.index, p->want.index_len));
		if (!obj)
			return FIXGW_ENOMEM;
		rc = k8s_create(p->c, &k8s_res_configmaps, p->ns, obj, NULL, &res);
		json_decref(obj);
		if (!rc) {
			p->generation = gen;
			*wrote = true;
			return 0;
		}
		if (rc != K8S_EEXISTS) {
			log_failure(p, "cannot create the index %s/%s: %s (%ld %s)", p->ns, p->name,
			            k8s_strerror(rc), res.status, res.message);
			return rc;
		}
	}
	return K8S_ECONFLICT;
}

/* Converge the API server on the wanted table: shards first, the index last. */
static int sync_table(struct op_publish *p, struct k8s_leader *le)
{
	uint64_t t0 = k8s_now_ms();
	size_t created = 0;
	for (size_t i = 0; i < p->want.nshards; i++) {
		bool c = false;
		int rc = ensure_shard(p, &p->want.shards[i], le, &c);
		if (rc)
			return rc;
		created += c;
	}
	char cached[RS_HASH_HEX + 1] = "";
	char key[400];
	snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
	k8s_informer_get(p->inf, key, look_index, cached);
	bool wrote = false;
	if (p->dirty || strcmp(cached, p->want.digest)) {
		int rc = write_index(p, le, &wrote);
		if (rc)
			return rc;
	}
	p->dirty = false;
	free(p->last_error);
	p->last_error = NULL;
	if (wrote) {
		struct log_line l;
		log_begin(&l, LOG_INFO, "routing_table_published", &pub_log);
		log_uint(&l, "generation", p->generation);
		log_uint(&l, "fixsessions", p->want.count);
		log_uint(&l, "shards", p->want.nshards);
		log_uint(&l, "shards_created", created);
		log_uint(&l, "ms", k8s_now_ms() - t0);
		log_end(&l, "index %s/%s generation %" PRIu64 ": %zu FIXSessions in %zu shards (%zu new)",
		        p->ns, p->name, p->generation, p->want.count, p->want.nshards, created);
	}
	return 0;
}

static int sync_or_retry(struct op_publish *p, struct k8s_leader *le)
{
	atomic_store(&p->recheck, false);
	int rc = sync_table(p, le);
	if (rc && rc != FIXGW_EAGAIN) {
		p->dirty = true;
		atomic_store(&p->recheck, true);
		p->retry_at = k8s_now_ms() + RETRY_MS;
	}
	return rc;
}

int op_publish_table(struct op_publish *p, json_t *lkg, struct k8s_leader *le)
{
	size_t n = json_object_size(lkg), i = 0;
	struct rs_entry *e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return FIXGW_ENOMEM;
	const char *key;
	json_t *v;
	json_object_foreach(lkg, key, v)
	{
		e[i++] = (struct rs_entry){key, strlen(key), json_string_value(v), json_string_length(v)};
	}
	struct rs_table t;
	int rc = rs_build(e, n, &t);
	free(e);
	if (rc) {
		log_failure(p, "cannot serialize the routing table of %zu FIXSessions: %s", n,
		            fixgw_strerror(rc));
		return rc;
	}
	if (p->have_want && !strcmp(t.digest, p->want.digest)) {
		rs_table_free(&t);
		if (!p->dirty)
			return 0;
	} else {
		rs_table_free(&p->want);
		p->want = t;
		p->have_want = true;
		p->dirty = true;
	}
	return sync_or_retry(p, le);
}

/* ---- garbage collection ---- */

struct gc_scan {
	struct op_publish *p;
	json_t *names; /* shard name -> resourceVersion, of every cached shard */
	bool nomem;
};

static bool scan_shard(void *arg, const struct k8s_store_entry *e)
{
	struct gc_scan *g = arg;
	json_t *meta = json_object_get(e->obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	if (!name || strncmp(name, RS_SHARD_PREFIX, sizeof(RS_SHARD_PREFIX) - 1))
		return true;
	if (json_object_set_new(g->names, name, json_string(e->rv ? e->rv : "")))
		g->nomem = true;
	return !g->nomem;
}

static bool wanted(const struct op_publish *p, const char *name)
{
	for (size_t i = 0; i < p->want.nshards; i++)
		if (!strcmp(p->want.shards[i].name, name))
			return true;
	return false;
}

static int collect_garbage(struct op_publish *p, struct k8s_leader *le)
{
	struct gc_scan g = {p, json_object(), false};
	if (!g.names)
		return FIXGW_ENOMEM;
	k8s_informer_foreach(p->inf, scan_shard, &g);
	if (g.nomem) {
		json_decref(g.names);
		return FIXGW_ENOMEM;
	}
	uint64_t now = k8s_now_ms();
	const char *name;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(p->unref, tmp, name, v)
	{
		if (!json_object_get(g.names, name) || wanted(p, name))
			json_object_del(p->unref, name);
	}
	int rc = 0;
	json_object_foreach(g.names, name, v)
	{
		if (wanted(p, name))
			continue;
		json_t *since = json_object_get(p->unref, name);
		if (!since) {
			json_object_set_new(p->unref, name, json_integer((json_int_t)now));
			continue;
		}
		if (now - (uint64_t)json_integer_value(since) < p->gc_ms)
			continue;
		if (!k8s_leader_is_leader(le)) {
			rc = FIXGW_EAGAIN;
			break;
		}
		struct k8s_result res = {0};
		const char *rv = json_string_value(v);
		int r = k8s_delete(p->c, &k8s_res_configmaps, p->ns, name, rv && rv[0] ? rv : NULL, &res);
		if (r && r != K8S_ENOTFOUND && r != K8S_ECONFLICT) {
			log_failure(p, "cannot delete the unreferenced shard %s/%s: %s (%ld %s)", p->ns, name,
			            k8s_strerror(r), res.status, res.message);
			rc = r;
			break;
		}
		if (!r) {
			struct log_line l;
			log_begin(&l, LOG_INFO, "shard_deleted", &pub_log);
			log_str(&l, "shard", name);
			log_end(&l, "unreferenced for %u ms", p->gc_ms);
		}
		json_object_del(p->unref, name);
	}
	json_decref(g.names);
	return rc;
}

int op_publish_tick(struct op_publish *p, struct k8s_leader *le)
{
	if (!p->have_want || k8s_now_ms() < p->retry_at)
		return 0;
	if (p->dirty || atomic_load(&p->recheck)) {
		int rc = sync_or_retry(p, le);
		if (rc)
			return rc;
	}
	return collect_garbage(p, le);
}

/* ---- seeding the last-known-good memory ---- */

struct seed_ctx {
	struct op_publish *p;
	json_t *into;
	const struct rs_index *ix;
	struct rs_index_shard s;
	char why[256];
	bool ok, nomem;
};

static void seed_shard(void *arg, const void *obj)
{
	struct seed_ctx *x = arg;
	x->ok = false;
	size_t len;
	const char *text = obj ? data_str(obj, RS_DATA_KEY, &len) : NULL;
	struct rs_cursor c;
	if (!obj) {
		snprintf(x->why, sizeof(x->why), "shard %.*s is missing", (int)RS_NAME_MAX, x->s.name);
		return;
	}
	if (rs_shard_open(&c, x->ix, &x->s, text, len, x->why, sizeof(x->why)))
		return;
	struct rs_entry e;
	int rc;
	char key[400];
	while ((rc = rs_shard_next(&c, &e, x->why, sizeof(x->why))) == 1) {
		snprintf(key, sizeof(key), "%.*s", (int)e.key_len, e.key);
		if (json_object_set_new(x->into, key, json_stringn(e.text, e.len))) {
			x->nomem = true;
			return;
		}
	}
	x->ok = rc == 0;
}

struct index_copy {
	char *table;
	size_t len;
	char digest[RS_HASH_HEX + 1];
	uint64_t generation;
};

static void copy_index(void *arg, const void *obj)
{
	struct index_copy *c = arg;
	size_t len;
	const char *t = obj ? data_str(obj, RS_INDEX_KEY, &len) : NULL;
	const char *d = obj ? data_str(obj, RS_DIGEST_KEY, NULL) : NULL;
	if (!t || !d || strlen(d) != RS_HASH_HEX || !(c->table = malloc(len + 1)))
		return;
	memcpy(c->table, t, len);
	c->table[len] = '\0';
	c->len = len;
	memcpy(c->digest, d, RS_HASH_HEX + 1);
	c->generation = parse_generation(data_str(obj, RS_GENERATION_KEY, NULL));
}

size_t op_publish_seed(struct op_publish *p, json_t *lkg)
{
	if (p->seeded)
		return 0;
	p->seeded = true;
	if (json_object_size(lkg))
		return 0;
	struct index_copy ic = {0};
	char key[400];
	snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
	k8s_informer_get(p->inf, key, copy_index, &ic);
	if (!ic.table)
		return 0;
	if (ic.generation > p->generation)
		p->generation = ic.generation;
	struct rs_index ix;
	struct seed_ctx x = {p, json_object(), &ix, {0}, "", true, false};
	if (!x.into || rs_index_parse(ic.table, ic.len, ic.digest, &ix, x.why, sizeof(x.why)))
		x.ok = false;
	size_t pos = 0;
	while (x.ok && !x.nomem && rs_index_next(&ix, &pos, &x.s) == 1) {
		char skey[400];
		snprintf(skey, sizeof(skey), "%s/%.*s", p->ns, (int)RS_NAME_MAX, x.s.name);
		k8s_informer_get(p->inf, skey, seed_shard, &x);
	}
	size_t n = 0;
	if (x.ok && !x.nomem && !json_object_update(lkg, x.into)) {
		n = json_object_size(x.into);
		log_msg(LOG_INFO, "lkg_seeded", &pub_log,
		        "last-known-good versions of %zu FIXSessions taken from the published table %s/%s "
		        "(generation %" PRIu64 ")",
		        n, p->ns, p->name, ic.generation);
	} else {
		log_msg(
		    LOG_WARN, "lkg_seed_failed", &pub_log,
		    "the published table %s/%s cannot be read back (%s): starting without last-known-good "
		    "versions",
		    p->ns, p->name, x.nomem ? "out of memory" : x.why);
	}
	json_decref(x.into);
	free(ic.table);
	return n;
}
