/* Unit tests for src/operator/settle.c: the debounce window and the per-object queue, with the clock given
 * by the test. */
#include "operator/settle.c"

#include "test.h"

static json_t *fs(const char *name, int generation)
{
	return json_pack("{s:{s:s,s:i}}", "metadata", "name", name, "generation", generation);
}

static int view_generation(struct op_settle *s, const char *key)
{
	json_t *o = json_object_get(s->view, key);
	return o ? (int)json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation")) : 0;
}

TEST(test_strategy_names)
{
	enum op_batch b;
	CHECK(op_batch_parse("per-object", &b) && b == OP_BATCH_PER_OBJECT);
	CHECK(op_batch_parse("debounce", &b) && b == OP_BATCH_DEBOUNCE);
	CHECK(!op_batch_parse("Debounce", &b));
	CHECK(!op_batch_parse("", &b));
	CHECK_EQ_STR(op_batch_str(OP_BATCH_PER_OBJECT), "per-object");
}

TEST(test_debounce_waits_for_quiet)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_DEBOUNCE, 200, 5000), 0);
	CHECK(!op_settle_due(&s, 1000, &wait));
	CHECK_EQ_INT(wait, UINT32_MAX); /* nothing pending */
	json_t *o = fs("a", 1);
	/* a batch: one event every 50 ms for a second; nothing is due while it lasts */
	for (uint64_t t = 1000; t <= 2000; t += 50) {
		op_settle_fixsession(&s, "ns/a", o, true, t);
		CHECK(!op_settle_due(&s, t + 10, &wait));
		CHECK_EQ_INT(wait, 190);
	}
	CHECK(!op_settle_due(&s, 2199, &wait));
	CHECK_EQ_INT(wait, 1);
	CHECK(op_settle_due(&s, 2200, &wait)); /* quiet for 200 ms: one pass for the whole batch */
	CHECK_EQ_INT(wait, 0);
	CHECK(!op_settle_due(&s, 2300, &wait));
	CHECK_EQ_INT(s.passes_due, 1);
	CHECK_EQ_INT(s.spec_events, 21);
	json_decref(o);
	op_settle_free(&s);
}

TEST(test_debounce_max_wait_bounds_a_stream)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_DEBOUNCE, 200, 1000), 0);
	json_t *o = fs("a", 1);
	uint64_t t = 0, due_at = 0;
	for (t = 0; t < 3000 && !due_at; t += 100) {
		op_settle_fixsession(&s, "ns/a", o, true, t); /* a FIXSession written again and again */
		if (op_settle_due(&s, t, &wait))
			due_at = t;
	}
	CHECK_EQ_INT(due_at, 1000); /* never quiet, but a pass at most max_wait after the first event */
	json_decref(o);
	op_settle_free(&s);
}

TEST(test_debounce_ignores_status_only_updates)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_DEBOUNCE, 200, 1000), 0);
	json_t *o = fs("a", 1);
	op_settle_fixsession(&s, "ns/a", o, false, 0); /* the operator's own status write coming back */
	CHECK(!op_settle_due(&s, 5000, &wait));
	op_settle_all(&s, 6000); /* leadership began: at once */
	CHECK(op_settle_due(&s, 6000, &wait));
	op_settle_failed(&s, 6001); /* the pass failed: due again (the operator spaces retries) */
	CHECK(op_settle_due(&s, 6002, &wait));
	json_decref(o);
	op_settle_free(&s);
}

TEST(test_per_object_one_pass_per_spec_event)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_PER_OBJECT, 0, 0), 0);
	json_t *x1 = fs("x", 1), *x2 = fs("x", 2), *y2 = fs("y", 2);
	op_settle_fixsession(&s, "ns/x", x1, true, 0);
	op_settle_all(&s, 0);
	CHECK(op_settle_due(&s, 0, &wait)); /* x's event */
	CHECK_EQ_INT(view_generation(&s, "ns/x"), 1);
	CHECK(op_settle_due(&s, 0, &wait)); /* leadership began */
	CHECK(!op_settle_due(&s, 0, &wait));
	op_settle_fixsession(&s, "ns/x", x2, true, 1);
	op_settle_fixsession(&s, "ns/x", x2, false, 2); /* a status write: no pass of its own */
	op_settle_fixsession(&s, "ns/y", y2, true, 3);
	op_settle_fixsession(&s, "ns/x", NULL, true, 6);
	CHECK(op_settle_due(&s, 10, &wait)); /* x's change alone: y is not in the view yet */
	CHECK_EQ_INT(view_generation(&s, "ns/x"), 2);
	CHECK_EQ_INT(view_generation(&s, "ns/y"), 0);
	CHECK(op_settle_due(&s, 10, &wait)); /* the status update applied quietly, then y */
	CHECK_EQ_INT(view_generation(&s, "ns/y"), 2);
	CHECK_EQ_INT(s.n, 1);
	CHECK(op_settle_due(&s, 10, &wait)); /* x deleted */
	CHECK_EQ_INT(view_generation(&s, "ns/x"), 0);
	CHECK(!op_settle_due(&s, 10, &wait));
	CHECK_EQ_INT(wait, UINT32_MAX);
	op_settle_failed(&s, 11);
	CHECK(op_settle_due(&s, 12, &wait)); /* once more over the same view */
	CHECK(!op_settle_due(&s, 13, &wait));
	json_decref(x1);
	json_decref(x2);
	json_decref(y2);
	op_settle_free(&s);
}

TEST(test_per_object_standby_applies_without_passes)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_PER_OBJECT, 0, 0), 0);
	json_t *o = fs("a", 3);
	for (int i = 0; i < 1000; i++)
		op_settle_fixsession(&s, "ns/a", o, true, (uint64_t)i);
	op_settle_standby(&s);
	CHECK_EQ_INT(s.n, 0); /* a standby keeps no backlog */
	CHECK_EQ_INT(view_generation(&s, "ns/a"), 3);
	CHECK(!op_settle_due(&s, 2000, &wait));
	json_decref(o);
	op_settle_free(&s);
}

TEST(test_per_object_queue_is_bounded)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_PER_OBJECT, 0, 0), 0);
	char key[32];
	json_t *o = fs("a", 1);
	for (unsigned i = 0; i < OP_SETTLE_MAX_QUEUE + 10; i++) {
		snprintf(key, sizeof(key), "ns/a%u", i);
		op_settle_fixsession(&s, key, o, true, i);
	}
	CHECK(s.cap <= OP_SETTLE_MAX_QUEUE);
	CHECK_EQ_INT(s.n, 10);              /* an ALL marker and the 9 events after the overflow */
	CHECK(op_settle_due(&s, 0, &wait)); /* one pass over everything up to the overflow */
	CHECK_EQ_INT(json_object_size(s.view), OP_SETTLE_MAX_QUEUE + 10);
	CHECK_EQ_INT(s.n, 0);
	json_decref(o);
	op_settle_free(&s);
}

TEST(test_per_object_reload)
{
	struct op_settle s;
	uint32_t wait;
	CHECK_EQ_INT(op_settle_init(&s, OP_BATCH_PER_OBJECT, 0, 0), 0);
	json_t *a = fs("a", 1), *b = fs("b", 4);
	op_settle_fixsession(&s, "ns/a", a, true, 0);
	s.reload = true; /* what a failed copy sets */
	CHECK(op_settle_needs_reload(&s));
	op_settle_reload_begin(&s);
	CHECK_EQ_INT(op_settle_reload_add(&s, "ns/b", b), 0);
	CHECK(!op_settle_needs_reload(&s));
	CHECK_EQ_INT(s.n, 0);
	CHECK_EQ_INT(view_generation(&s, "ns/a"), 0);
	CHECK_EQ_INT(view_generation(&s, "ns/b"), 4);
	CHECK(op_settle_due(&s, 0, &wait)); /* the reloaded view is validated */
	json_decref(a);
	json_decref(b);
	op_settle_free(&s);
}

TEST_MAIN(TEST_ENTRY(test_strategy_names), TEST_ENTRY(test_debounce_waits_for_quiet),
          TEST_ENTRY(test_debounce_max_wait_bounds_a_stream),
          TEST_ENTRY(test_debounce_ignores_status_only_updates),
          TEST_ENTRY(test_per_object_one_pass_per_spec_event),
          TEST_ENTRY(test_per_object_standby_applies_without_passes),
          TEST_ENTRY(test_per_object_queue_is_bounded), TEST_ENTRY(test_per_object_reload))
