/* Snapshots and per-worker statistics (src/gateway/snapshot.c, route_stats.c): a snapshot references the
 * counter records of its routes; counts written per worker are summed when read; records keep counting
 * across tables, become orphans when their FIXSession leaves with live connections, and go when nobody
 * uses them. */
#include "gateway/endpoints.c"
#include "gateway/route_stats.c"
#include "gateway/snapshot.c"

#include "core/manifest.h"
#include "test.h"

static const char *const two_routes =
    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: a, namespace: t}\n"
    "spec:\n  matchFields: {SenderCompID49: {value: A}}\n  target: {service: {name: s, port: {number: 1}}}\n"
    "---\napiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: b, namespace: t}\n"
    "spec:\n  matchFields: {SenderCompID49: {value: B}}\n  target: {service: {name: s, port: {number: 1}}}\n";

static const char *const only_b =
    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: b, namespace: t}\n"
    "spec:\n  matchFields: {SenderCompID49: {value: B}}\n  target: {service: {name: s, port: {number: 1}}}\n";

static struct route_table *compile(const char *text)
{
	struct route_set set;
	struct diag_list dl;
	struct route_table *t = NULL;
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_load_buffer("test.yaml", text, strlen(text), &set, &dl), 0);
	CHECK_EQ_INT(route_table_compile(&set, &dl, &t), 0);
	diag_list_free(&dl);
	route_set_free(&set);
	return t;
}

/* What gw_publish does for the registry: one referenced record per route of the snapshot's table. */
static struct gw_snapshot *publish(struct route_registry *reg, struct route_table *t)
{
	struct gw_snapshot *s = gw_snapshot_new("test");
	gw_snapshot_set_table(s, t);
	s->stats = calloc(route_table_count(t), sizeof(*s->stats));
	CHECK_EQ_INT(route_registry_sync(reg, t, s->stats), 0);
	return s;
}

struct found {
	const char *key;
	struct gw_route_stats st;
	int seen;
};

static void find_key(const struct gw_route_stats *st, void *arg)
{
	struct found *f = arg;
	if (!strcmp(st->key, f->key)) {
		f->st = *st;
		f->seen++;
	}
}

static struct found lookup(struct route_registry *reg, const char *key)
{
	struct found f = {.key = key};
	route_registry_foreach(reg, find_key, &f);
	return f;
}

TEST(snapshot_finds_each_routes_record)
{
	struct route_registry reg;
	route_registry_init(&reg, 2);
	struct gw_snapshot *s = publish(&reg, compile(two_routes));
	const struct route *a = route_table_find(s->table, "t", "a");
	const struct route *b = route_table_find(s->table, "t", "b");
	CHECK(gw_snapshot_route_stats(s, a) != NULL);
	CHECK(gw_snapshot_route_stats(s, a) != gw_snapshot_route_stats(s, b));
	CHECK_EQ_STR(gw_snapshot_route_stats(s, a)->key, "t/a");
	CHECK_EQ_STR(gw_snapshot_route_stats(s, b)->key, "t/b");
	gw_snapshot_unref(s);
	route_registry_fini(&reg);
}

TEST(counts_per_worker_are_summed_when_read)
{
	struct route_registry reg;
	route_registry_init(&reg, 3);
	struct gw_snapshot *s = publish(&reg, compile(two_routes));
	struct route_stats *st = gw_snapshot_route_stats(s, route_table_find(s->table, "t", "a"));
	for (unsigned w = 0; w < 3; w++) {
		struct route_counters *c = route_stats_worker(st, w);
		gw_count(&c->routed_total, w + 1);
		gw_gauge(&c->active, 2);
		gw_count(&c->bytes_from_client, 100 * (w + 1));
		gw_count(&c->bytes_to_client, 10);
		gw_stamp(&c->last_routing_unix_ms, 1000 + w);
	}
	gw_gauge(&route_stats_worker(st, 1)->active, -1);
	struct found f = lookup(&reg, "t/a");
	CHECK_EQ_INT(f.seen, 1);
	CHECK_EQ_INT(f.st.routed_total, 6);
	CHECK_EQ_INT(f.st.active, 5);
	CHECK_EQ_INT(f.st.bytes_from_client, 600);
	CHECK_EQ_INT(f.st.bytes_to_client, 30);
	CHECK_EQ_INT(f.st.last_routing_unix_ms, 1002); /* the latest of the workers' */
	CHECK_EQ_INT(f.st.orphaned, 0);
	CHECK(f.st.present);
	gw_snapshot_unref(s);
	route_registry_fini(&reg);
}

TEST(records_survive_reloads_orphan_and_reassociate)
{
	struct route_registry reg;
	route_registry_init(&reg, 2);
	struct gw_snapshot *s1 = publish(&reg, compile(two_routes));
	/* a live connection of "t/a" on worker 1 holds the record */
	struct route_stats *conn =
	    route_stats_ref(gw_snapshot_route_stats(s1, route_table_find(s1->table, "t", "a")));
	gw_gauge(&route_stats_worker(conn, 1)->active, 1);
	gw_count(&route_stats_worker(conn, 1)->routed_total, 1);

	/* "t/a" leaves the table: its record stays, orphaned, with its counts */
	struct gw_snapshot *s2 = publish(&reg, compile(only_b));
	gw_snapshot_unref(s1);
	struct found f = lookup(&reg, "t/a");
	CHECK_EQ_INT(f.seen, 1);
	CHECK(!f.st.present);
	CHECK_EQ_INT(f.st.orphaned, 1);
	CHECK_EQ_INT(f.st.routed_total, 1);

	/* it comes back: the same record, no longer orphaned */
	struct gw_snapshot *s3 = publish(&reg, compile(two_routes));
	gw_snapshot_unref(s2);
	CHECK(gw_snapshot_route_stats(s3, route_table_find(s3->table, "t", "a")) == conn);
	f = lookup(&reg, "t/a");
	CHECK(f.st.present);
	CHECK_EQ_INT(f.st.orphaned, 0);
	CHECK_EQ_INT(f.st.active, 1);

	/* the connection ends and "t/a" leaves again: nobody uses the record, a later publish drops it */
	gw_gauge(&route_stats_worker(conn, 1)->active, -1);
	route_stats_unref(conn);
	struct gw_snapshot *s4 = publish(&reg, compile(only_b));
	gw_snapshot_unref(s3);
	struct gw_snapshot *s5 = publish(&reg, compile(only_b));
	gw_snapshot_unref(s4);
	CHECK_EQ_INT(lookup(&reg, "t/a").seen, 0);
	CHECK_EQ_INT(lookup(&reg, "t/b").seen, 1);
	gw_snapshot_unref(s5);
	route_registry_fini(&reg);
}

TEST(derive_shares_the_table_and_replaces_parts)
{
	struct route_registry reg;
	route_registry_init(&reg, 1);
	struct gw_snapshot *s = publish(&reg, compile(two_routes));
	s->limits.logon_timeout_ms = 1234;
	s->reject_enabled = true;
	struct gw_snapshot *d = gw_snapshot_derive(s);
	CHECK(d->table == s->table);
	CHECK(d->stats == NULL); /* filled at publish */
	CHECK_EQ_INT(d->limits.logon_timeout_ms, 1234);
	CHECK(d->reject_enabled);
	CHECK_EQ_STR(d->origin, "test");
	gw_snapshot_unref(s); /* the table lives on in d */
	CHECK_EQ_INT(route_table_count(d->table), 2);
	gw_snapshot_unref(d);
	route_registry_fini(&reg);
}

TEST_MAIN(TEST_ENTRY(snapshot_finds_each_routes_record), TEST_ENTRY(counts_per_worker_are_summed_when_read),
          TEST_ENTRY(records_survive_reloads_orphan_and_reassociate),
          TEST_ENTRY(derive_shares_the_table_and_replaces_parts))
