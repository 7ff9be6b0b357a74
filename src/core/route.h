/* route.h - the FIXSession model: one route to one Kubernetes Service, as loaded from a manifest.
 *
 * Plain data with owned strings; route_set_free() releases everything. Loaders (manifest.c for YAML/JSON
 * files, the operator for API objects) fill it; route_table.c compiles it.
 */
#ifndef FIXGW_CORE_ROUTE_H
#define FIXGW_CORE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_FIELDS              16  /* matchFields entries in one FIXSession */
#define ROUTE_MAX_VALUE_LEN           256 /* bytes in one match value or pattern */
#define ROUTE_MAX_LISTENERS           16  /* listener names in one FIXSession */
#define ROUTE_DEFAULT_MAX_HELD        1u
#define ROUTE_DEFAULT_HOLD_TIMEOUT_MS 30000u
#define ROUTE_MAX_HOLD_TIMEOUT_MS     (3600u * 1000u)
#define ROUTE_MAX_MAX_HELD            10000u
#define ROUTE_MIN_PRIORITY            (-1000000)
#define ROUTE_MAX_PRIORITY            1000000

struct route_field {
	uint32_t tag; /* the parse key: the number at the end of the field name */
	char *name;   /* the PascalCase part, "SenderCompID" for SenderCompID49 (owned) */
	char *value;  /* as written: an exact value or a glob pattern (owned) */
	size_t value_len;
	bool is_pattern; /* value has an unescaped '*' or '?' */
	bool log;        /* false: absent from all telemetry */
	bool redact;     /* true: [REDACTED] in all telemetry */
};

struct route_target {
	char *service;   /* Service name in the route's namespace (owned) */
	uint16_t port;   /* port.number, or 0 when port_name is used */
	char *port_name; /* port.name (owned), or NULL */
};

struct route {
	char *ns;                   /* metadata.namespace (owned; "default" when absent) */
	char *name;                 /* metadata.name (owned) */
	char *source;               /* "file:line" of the document, for diagnostics (owned; may be NULL) */
	struct route_field *fields; /* owned array, sorted by tag, tags unique */
	size_t nfields;             /* 0: the catch-all default route */
	bool has_priority;
	int32_t priority; /* wildcard and default routes only; higher wins; default 0 */
	struct route_target target;
	char **listeners; /* owned array of owned names; none: every listener */
	size_t nlisteners;
	uint32_t max_held;        /* maxHeldConnections */
	uint32_t hold_timeout_ms; /* holdTimeout */
};

enum route_kind { ROUTE_KIND_EXACT, ROUTE_KIND_WILDCARD, ROUTE_KIND_DEFAULT };

/** EXACT: every value is literal; WILDCARD: at least one pattern; DEFAULT: no matchFields. */
enum route_kind route_kind_of(const struct route *r);

/** A growable array of routes; owns them. */
struct route_set {
	struct route *items;
	size_t count;
	size_t cap;
};

void route_set_init(struct route_set *set);
/** Append a zeroed route and return it, or NULL on ENOMEM. The set owns it. */
struct route *route_set_push(struct route_set *set);
/** Remove the last route (used by loaders to drop a half-built route). */
void route_set_pop(struct route_set *set);
void route_free(struct route *r);
void route_set_free(struct route_set *set);
/** Make dst (uninitialised) a deep copy of src, owning its own strings and arrays. Returns 0, or
 * -ENOMEM with dst zeroed (nothing to free). */
int route_copy(struct route *dst, const struct route *src);

#endif
