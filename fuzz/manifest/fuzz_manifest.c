/* fuzz_manifest.c - libFuzzer target: any bytes through manifest_load_buffer, then every route and
 * diagnostic is checked against what the loader promises and freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                                        \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "fuzz_manifest: %s failed\n", #cond);                                \
			__builtin_trap();                                                                    \
		}                                                                                            \
	} while (0)

static void check_field(const struct route_field *f)
{
	REQUIRE(f->tag >= 1 && f->tag <= 999999999u);
	REQUIRE(f->name && f->name[0] >= 'A' && f->name[0] <= 'Z');
	REQUIRE(f->value && f->value_len >= 1 && f->value_len <= ROUTE_MAX_VALUE_LEN);
	REQUIRE(strlen(f->value) == f->value_len);
	for (size_t i = 0; i < f->value_len; i++)
		REQUIRE((unsigned char)f->value[i] >= 0x20 && f->value[i] != 0x7f);
}

static void check_route(const struct route *r)
{
	REQUIRE(r->name && r->ns && r->source && r->target.service);
	REQUIRE((r->target.port != 0) != (r->target.port_name != NULL));
	REQUIRE(r->nfields <= ROUTE_MAX_FIELDS && (r->nfields == 0) == (r->fields == NULL));
	for (size_t i = 0; i < r->nfields; i++) {
		check_field(&r->fields[i]);
		REQUIRE(i == 0 || r->fields[i - 1].tag < r->fields[i].tag);
	}
	REQUIRE(!r->has_priority || route_kind_of(r) != ROUTE_KIND_EXACT);
	REQUIRE(r->priority >= ROUTE_MIN_PRIORITY && r->priority <= ROUTE_MAX_PRIORITY);
	REQUIRE(r->nlisteners <= ROUTE_MAX_LISTENERS);
	for (size_t i = 0; i < r->nlisteners; i++)
		REQUIRE(r->listeners[i] && r->listeners[i][0]);
	REQUIRE(r->max_held <= ROUTE_MAX_MAX_HELD);
	REQUIRE(r->hold_timeout_ms >= 1 && r->hold_timeout_ms <= ROUTE_MAX_HOLD_TIMEOUT_MS);
}

/* Input reaches a message only through diag_quote, so no diagnostic can carry a raw control byte. */
static void check_text(const char *s)
{
	for (; s && *s; s++)
		REQUIRE((unsigned char)*s >= 0x20 && *s != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_set set;
	struct diag_list dl;
	route_set_init(&set);
	diag_list_init(&dl);
	int rc = manifest_load_buffer("fuzz", (const char *)data, size, &set, &dl);
	REQUIRE(rc == 0 || rc == FIXGW_EINVAL);
	REQUIRE((rc == 0) == (dl.nerrors == 0));
	for (size_t i = 0; i < set.count; i++)
		check_route(&set.items[i]);
	for (size_t i = 0; i < dl.count; i++) {
		check_text(dl.items[i].message);
		check_text(dl.items[i].path);
	}
	route_set_free(&set);
	diag_list_free(&dl);

	uint64_t ms;
	if (size <= 64 && manifest_parse_duration_ms((const char *)data, size, &ms) == 0)
		REQUIRE(size >= 2);
	return 0;
}
