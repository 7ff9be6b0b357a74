/* config.c - the gateway's standalone YAML configuration (see config.h and docs/reference/gateway-config.md).
 *
 * The file is read whole (at most GW_CONFIG_MAX_BYTES), checked by a pass over libyaml's event stream
 * (one document, bounded nesting and node count), then loaded as a libyaml document so every node keeps
 * its line and column. The document is walked against a fixed schema: tables of known keys with typed
 * setters, in the style of nginx's directive tables. The walk descends only into keys the schema knows,
 * so its depth is bounded by the schema whatever the input holds (aliases included). Every problem is
 * added to the diag_list and the walk goes on; the config is handed out only when none was found.
 */
#include "gateway/config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/k8s_names.h"
#include "core/errors.h"
#include "core/schema.h"
#include "core/yaml_doc.h"
#include "io/file.h"
#include "net/localaddr.h"

#define GW_CONFIG_MAX_BYTES     (4u * 1024u * 1024u) /* a config file larger than this is refused */
#define GW_CONFIG_MAX_DEPTH     32                   /* nesting levels (the schema needs 6) */
#define GW_CONFIG_MAX_NODES     200000u              /* scalars, collections and aliases in the file */
#define GW_CONFIG_MAX_SERVICES  4096                 /* keys under endpoints */
#define GW_CONFIG_MAX_ENDPOINTS 1024                 /* addresses under one endpoints key */
#define GW_CONFIG_MAX_WORKERS   64
#define GW_PATH_CAP             384 /* a key path for messages: listeners[1].tls.certFile */
#define FIELDS_MAX              24  /* keys in one schema table */

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "FT_UINT stores unsigned and uint32_t alike");

/* One load in progress. */
struct loader {
	const struct gw_config_opts *opts; /* never NULL */
	const char *file;                  /* the config path, for diagnostics */
	char *dir; /* its directory, made absolute: relative paths in the file are resolved here */
	yaml_document_t *doc;
	struct diag_list *dl;
	size_t nerrors; /* errors this load reported (dl may already hold others) */
	bool nomem;
};

/* ---- diagnostics ---- */

static void cfg_error(struct loader *ld, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Report an error at node n (line and column 1-based; 0 when no node is known). */
static void cfg_error(struct loader *ld, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	unsigned line = n ? (unsigned)n->start_mark.line + 1 : 0;
	unsigned col = n ? (unsigned)n->start_mark.column + 1 : 0;
	va_list ap;
	va_start(ap, fmt);
	if (diag_addv(ld->dl, DIAG_ERROR, ld->file, line, col, path, fmt, ap) == FIXGW_ENOMEM)
		ld->nomem = true;
	va_end(ap);
	ld->nerrors++;
}

/* The quoted, escaped form of a value taken from the file, safe to put in a message. */
#define QUOTE(s, buf) diag_quote((s), strlen(s), (buf), sizeof(buf))

/* Key paths only name places in messages: one cut short ends in "..." and still points the right way. */
static void path_mark_cut(char *out, int n)
{
	if (n >= GW_PATH_CAP)
		memcpy(out + GW_PATH_CAP - 4, "...", 4);
}

static void path_key(char *out, const char *parent, const char *key)
{
	path_mark_cut(out, snprintf(out, GW_PATH_CAP, "%s%s%s", parent, parent[0] ? "." : "", key));
}

static void path_index(char *out, const char *parent, size_t i)
{
	path_mark_cut(out, snprintf(out, GW_PATH_CAP, "%s[%zu]", parent, i));
}

/* ---- node access ---- */

static yaml_node_t *node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* What a node is, for "expected X, found Y" (core/schema.h's words). */
static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return schema_is_absent(n) ? "nothing" : schema_scalar_type_name(schema_scalar_type(n));
	}
}

/* The text of a non-null scalar, or NULL after an error saying `what` was expected. An embedded NUL (a
 * "\0" escape) is refused so that a C string can never silently shorten a value. */
static const char *want_scalar(struct loader *ld, yaml_node_t *n, const char *path, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || schema_is_absent(n)) {
		cfg_error(ld, n, path, "expected %s, found %s", what, node_kind(n));
		return NULL;
	}
	if (strlen(scalar_text(n)) != n->data.scalar.length) {
		cfg_error(ld, n, path, "a NUL byte is not allowed in %s", what);
		return NULL;
	}
	return scalar_text(n);
}

static bool want_type(struct loader *ld, yaml_node_t *n, const char *path, yaml_node_type_t type)
{
	char msg[SCHEMA_MSG_CAP];
	if (n->type == type)
		return true;
	schema_type_problem(n, type, NULL, msg, sizeof(msg));
	cfg_error(ld, n, path, "%s", msg);
	return false;
}

/* The value node of key in a mapping, or NULL. */
static yaml_node_t *map_get(struct loader *ld, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar_text(k), key))
			return node_at(ld, p->value);
	}
	return NULL;
}

/* The key node of key in a mapping, or NULL. */
static yaml_node_t *map_key(struct loader *ld, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(ld, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar_text(k), key))
			return k;
	}
	return NULL;
}

static char *dup_or_flag(struct loader *ld, const char *s)
{
	char *d = strdup(s);
	if (!d)
		ld->nomem = true;
	return d;
}

/* ---- value checks ---- */

/* A lowercase DNS name of labels, at most 253 bytes; "*.example.com" when wildcard is allowed. */
static bool valid_dns_name(const char *s, bool wildcard)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	if (wildcard && s[0] == '*' && s[1] == '.')
		s += 2;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		if (!k8s_is_dns1123_label(s, n))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

/* A port number 1..65535 written canonically (no sign, no leading zero), so that keys compare as text. */
static bool valid_port_number(const char *s, size_t len)
{
	unsigned v = 0;
	if (len == 0 || len > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

/* "namespace/service:port": the namespace a DNS-1123 label, the service a DNS-1035 label (starts with a
 * letter), the port a number or a port name, as endpoint_key_for_target() writes them. */
static bool valid_service_key(const char *k)
{
	const char *slash = strchr(k, '/');
	const char *colon = strrchr(k, ':');
	if (!slash || !colon || colon < slash)
		return false;
	const char *svc = slash + 1, *port = colon + 1;
	size_t svc_len = (size_t)(colon - svc), port_len = strlen(port);
	if (!k8s_is_dns1123_label(k, (size_t)(slash - k)) || !k8s_is_dns1123_label(svc, svc_len) ||
	    svc[0] < 'a' || svc[0] > 'z')
		return false;
	return valid_port_number(port, port_len) || k8s_is_port_name(port, port_len);
}

/* Whether every byte is printable; UTF-8 is allowed where allow_high (paths may hold it). */
static bool printable(const char *s, bool allow_high)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (*p > 0x7f && !allow_high))
			return false;
	return true;
}

/* Join a relative path to the config directory; absolute paths stay. "./" prefixes are dropped. */
static char *resolve_path(struct loader *ld, const char *p)
{
	if (p[0] == '/')
		return dup_or_flag(ld, p);
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	size_t n = strlen(ld->dir) + 1 + strlen(p) + 1;
	char *out = malloc(n);
	if (!out) {
		ld->nomem = true;
		return NULL;
	}
	snprintf(out, n, "%s/%s", ld->dir, p);
	return out;
}

/* ---- the schema ---- */

enum field_type {
	FT_UINT,     /* plain YAML integer within [min, max], stored as uint32_t / unsigned */
	FT_DURATION, /* Go-style duration within [min, max] ms (or 0 when zero_ok), stored as uint32_t ms */
	FT_BOOL,     /* true or false */
	FT_ADDR,     /* numeric "host:port" (net_addr_parse) */
	FT_STRING,   /* printable ASCII, owned char * */
	FT_PATH,     /* file path resolved against the config directory, owned char * */
	FT_MAP,      /* a nested mapping of the fields in sub */
	FT_CUSTOM,   /* parse() does the work */
};

struct field;
typedef void (*field_parse_fn)(struct loader *ld, yaml_node_t *v, const char *path, void *obj);

struct field {
	const char *key;
	enum field_type type;
	size_t off;        /* where the value goes, from the start of the object being filled */
	uint32_t min, max; /* FT_UINT bounds; FT_DURATION bounds in ms */
	bool zero_ok;      /* FT_DURATION: 0 (off) is allowed besides [min, max] */
	bool required;
	const struct field *sub; /* FT_MAP */
	size_t nsub;
	field_parse_fn parse; /* FT_CUSTOM: gets obj + off */
};

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static void parse_mapping(struct loader *ld, yaml_node_t *n, const char *path, const struct field *fields,
                          size_t nfields, void *obj, yaml_node_t **seen);

/* Integers, durations and booleans are read by the shared schema rules (core/schema.h), so the config
 * and FIXSession manifests accept and refuse the same values in the same words. */
static void set_uint(struct loader *ld, yaml_node_t *v, const char *path, const struct field *f, void *dst)
{
	char msg[SCHEMA_MSG_CAP];
	long long n;
	if (schema_int(v, f->min, f->max, &n, msg, sizeof(msg)))
		*(uint32_t *)dst = (uint32_t)n;
	else
		cfg_error(ld, v, path, "%s", msg);
}

static void set_duration(struct loader *ld, yaml_node_t *v, const char *path, const struct field *f,
                         void *dst)
{
	char msg[SCHEMA_MSG_CAP];
	uint64_t ms;
	if (schema_duration_ms(v, f->min, f->max, f->zero_ok, &ms, msg, sizeof(msg)))
		*(uint32_t *)dst = (uint32_t)ms;
	else
		cfg_error(ld, v, path, "%s", msg);
}

static void set_bool(struct loader *ld, yaml_node_t *v, const char *path, bool *dst)
{
	char msg[SCHEMA_MSG_CAP];
	if (!schema_bool(v, dst, msg, sizeof(msg)))
		cfg_error(ld, v, path, "%s", msg);
}

static void set_addr(struct loader *ld, yaml_node_t *v, const char *path, struct net_addr *dst)
{
	char q[DIAG_QUOTE_CAP];
	const char *s = want_scalar(ld, v, path, "an address such as 127.0.0.1:9877");
	if (!s)
		return;
	if (net_addr_parse(s, dst) != 0)
		cfg_error(ld, v, path,
		          "invalid address %s; expected \"ip:port\", \"[ipv6]:port\" or \":port\" with a "
		          "numeric IP "
		          "and a port 1..65535",
		          QUOTE(s, q));
}

static void set_string(struct loader *ld, yaml_node_t *v, const char *path, char **dst, bool is_path)
{
	const char *s = want_scalar(ld, v, path, is_path ? "a file path" : "a string");
	if (!s)
		return;
	if (!*s) {
		cfg_error(ld, v, path, "must not be empty");
		return;
	}
	if (!printable(s, is_path)) {
		cfg_error(ld, v, path, "control characters are not allowed");
		return;
	}
	free(*dst);
	*dst = is_path ? resolve_path(ld, s) : dup_or_flag(ld, s);
}

/* Hand one value to the setter its field names. */
static void set_field(struct loader *ld, yaml_node_t *v, const char *path, const struct field *f, void *obj)
{
	void *dst = (char *)obj + f->off;
	switch (f->type) {
	case FT_UINT:
		set_uint(ld, v, path, f, dst);
		break;
	case FT_DURATION:
		set_duration(ld, v, path, f, dst);
		break;
	case FT_BOOL:
		set_bool(ld, v, path, dst);
		break;
	case FT_ADDR:
		set_addr(ld, v, path, dst);
		break;
	case FT_STRING:
	case FT_PATH:
		set_string(ld, v, path, dst, f->type == FT_PATH);
		break;
	case FT_MAP:
		parse_mapping(ld, v, path, f->sub, f->nsub, dst, NULL);
		break;
	case FT_CUSTOM:
		f->parse(ld, v, path, dst);
		break;
	}
}

/* Report an unknown key, with a hint when only the case is wrong (logontimeout for logonTimeout). */
static void unknown_key(struct loader *ld, yaml_node_t *k, const char *path, const struct field *fields,
                        size_t nfields)
{
	const char *names[FIELDS_MAX];
	char msg[SCHEMA_MSG_CAP];
	for (size_t i = 0; i < nfields; i++)
		names[i] = fields[i].key;
	schema_unknown_key(scalar_text(k), k->data.scalar.length, names, nfields, msg, sizeof(msg));
	cfg_error(ld, k, path, "%s", msg);
}

/* Walk a mapping against a table of known keys: unknown and duplicate keys are errors, each known value
 * goes to its setter, missing required keys are reported at the mapping. When seen is given, seen[i]
 * receives the value node of fields[i] (NULL when absent) for the caller's own checks. */
static void parse_mapping(struct loader *ld, yaml_node_t *n, const char *path, const struct field *fields,
                          size_t nfields, void *obj, yaml_node_t **seen)
{
	yaml_node_t *local[FIELDS_MAX] = {0};
	yaml_node_t *key_nodes[FIELDS_MAX] = {0};
	char child[GW_PATH_CAP];
	if (!seen)
		seen = local;
	for (size_t i = 0; i < nfields; i++)
		seen[i] = NULL;
	if (!want_type(ld, n, path, YAML_MAPPING_NODE))
		return;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			cfg_error(ld, k, path, "keys must be strings, found %s", node_kind(k));
			continue;
		}
		size_t i = 0;
		while (i < nfields && strcmp(scalar_text(k), fields[i].key) != 0)
			i++;
		if (i == nfields) {
			unknown_key(ld, k, path, fields, nfields);
			continue;
		}
		path_key(child, path, fields[i].key);
		if (key_nodes[i]) {
			char msg[SCHEMA_MSG_CAP];
			schema_duplicate_key(fields[i].key, strlen(fields[i].key), key_nodes[i], msg,
			                     sizeof(msg));
			cfg_error(ld, k, child, "%s", msg);
			continue;
		}
		key_nodes[i] = k;
		seen[i] = v;
		set_field(ld, v, child, &fields[i], obj);
	}
	for (size_t i = 0; i < nfields; i++) {
		if (fields[i].required && !seen[i]) {
			path_key(child, path, fields[i].key);
			cfg_error(ld, n, child, SCHEMA_MISSING);
		}
	}
}

/* The items of a list, or NULL after an error (and for an empty list, with *count 0). */
static yaml_node_item_t *list_items(struct loader *ld, yaml_node_t *n, const char *path, size_t *count)
{
	*count = 0;
	if (!want_type(ld, n, path, YAML_SEQUENCE_NODE))
		return NULL;
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return n->data.sequence.items.start;
}

/* ---- TLS ---- */

static void parse_server_name(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	char q[DIAG_QUOTE_CAP];
	char **dst = obj;
	const char *s = want_scalar(ld, v, path, "a DNS name");
	if (!s)
		return;
	if (!valid_dns_name(s, true)) {
		cfg_error(ld, v, path,
		          "invalid serverName %s; expected a lowercase DNS name such as fix.example.com or "
		          "*.example.com",
		          QUOTE(s, q));
		return;
	}
	*dst = dup_or_flag(ld, s);
}

static const struct field sni_fields[] = {
    {.key = "serverName",
     .type = FT_CUSTOM,
     .off = offsetof(struct tls_cert_config, server_name),
     .parse = parse_server_name,
     .required = true},
    {.key = "certFile",
     .type = FT_PATH,
     .off = offsetof(struct tls_cert_config, cert_file),
     .required = true},
    {.key = "keyFile", .type = FT_PATH, .off = offsetof(struct tls_cert_config, key_file), .required = true},
};

/* sni: extra certificates, certs[1..]; certs[0] stays the default (certFile/keyFile). */
static void parse_sni(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct tls_config *tls = obj;
	char item[GW_PATH_CAP], q[DIAG_QUOTE_CAP];
	size_t n;
	yaml_node_item_t *items = list_items(ld, v, path, &n);
	if (!items)
		return;
	if (n > TLS_MAX_CERTS - 1) {
		cfg_error(ld, v, path, "too many SNI certificates (%zu); at most %d", n, TLS_MAX_CERTS - 1);
		n = TLS_MAX_CERTS - 1;
	}
	tls->ncerts = 1 + n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = node_at(ld, items[i]);
		struct tls_cert_config *cert = &tls->certs[1 + i];
		path_index(item, path, i);
		parse_mapping(ld, it, item, sni_fields, NFIELDS(sni_fields), cert, NULL);
		for (size_t j = 0; cert->server_name && j < i; j++) {
			if (tls->certs[1 + j].server_name &&
			    !strcmp(tls->certs[1 + j].server_name, cert->server_name)) {
				char sub[GW_PATH_CAP];
				path_key(sub, item, "serverName");
				cfg_error(ld, map_get(ld, it, "serverName"), sub,
				          "duplicate serverName %s (also %s[%zu])",
				          QUOTE(cert->server_name, q), path, j);
				break;
			}
		}
	}
}

static void parse_min_version(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	char q[DIAG_QUOTE_CAP];
	int *dst = obj;
	const char *s = want_scalar(ld, v, path, "a TLS version, \"1.2\" or \"1.3\"");
	if (!s)
		return;
	if (!strcmp(s, "1.2"))
		*dst = TLS1_2_VERSION;
	else if (!strcmp(s, "1.3"))
		*dst = TLS1_3_VERSION;
	else if (!strcmp(s, "1.0") || !strcmp(s, "1.1") || !strcmp(s, "1"))
		cfg_error(ld, v, path, "TLS 1.0 and 1.1 are not supported; use \"1.2\" or \"1.3\"");
	else
		cfg_error(ld, v, path, "unsupported TLS version %s; use \"1.2\" or \"1.3\"", QUOTE(s, q));
}

enum { TLS_ENABLED, TLS_CERT, TLS_KEY, TLS_MINVER, TLS_CIPHERS, TLS_SUITES, TLS_SNI, TLS_CA, TLS_REQUIRE };

static const struct field tls_fields[] = {
    [TLS_ENABLED] = {.key = "enabled", .type = FT_BOOL, .off = offsetof(struct tls_config, enabled)},
    [TLS_CERT] = {.key = "certFile", .type = FT_PATH, .off = offsetof(struct tls_config, certs[0].cert_file)},
    [TLS_KEY] = {.key = "keyFile", .type = FT_PATH, .off = offsetof(struct tls_config, certs[0].key_file)},
    [TLS_MINVER] = {.key = "minVersion",
                    .type = FT_CUSTOM,
                    .off = offsetof(struct tls_config, min_version),
                    .parse = parse_min_version},
    [TLS_CIPHERS] = {.key = "ciphers", .type = FT_STRING, .off = offsetof(struct tls_config, ciphers)},
    [TLS_SUITES] = {.key = "ciphersuites",
                    .type = FT_STRING,
                    .off = offsetof(struct tls_config, ciphersuites)},
    [TLS_SNI] = {.key = "sni", .type = FT_CUSTOM, .parse = parse_sni},
    [TLS_CA] = {.key = "clientCAFile", .type = FT_PATH, .off = offsetof(struct tls_config, client_ca_file)},
    [TLS_REQUIRE] = {.key = "requireClientCert",
                     .type = FT_BOOL,
                     .off = offsetof(struct tls_config, require_client_cert)},
};

static void parse_tls(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct tls_config *tls = obj;
	yaml_node_t *seen[NFIELDS(tls_fields)];
	parse_mapping(ld, v, path, tls_fields, NFIELDS(tls_fields), tls, seen);
	/* ncerts counts the pairs a TLS server loads, so every certs[i < ncerts] has both files: the default
	 * pair and the SNI pairs when enabled, none when disabled. A disabled listener's settings are still
	 * parsed but need not be complete, so TLS can be toggled by one line. */
	if (!tls->enabled)
		tls->ncerts = 0;
	else if (tls->ncerts == 0)
		tls->ncerts = 1;
	if (v->type != YAML_MAPPING_NODE)
		return;
	if (tls->enabled && !seen[TLS_CERT])
		cfg_error(ld, v, path, "certFile is required when enabled is true");
	if (tls->enabled && !seen[TLS_KEY])
		cfg_error(ld, v, path, "keyFile is required when enabled is true");
	if (tls->require_client_cert && !seen[TLS_CA])
		cfg_error(ld, v, path,
		          "requireClientCert needs clientCAFile (the CA that signs client certificates)");
}

/* ---- listeners ---- */

static void parse_listener_name(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	char q[DIAG_QUOTE_CAP];
	char **dst = obj;
	const char *s = want_scalar(ld, v, path, "a listener name");
	if (!s)
		return;
	if (!k8s_is_dns1123_label(s, strlen(s))) {
		cfg_error(ld, v, path,
		          "invalid listener name %s; expected a DNS label (lowercase letters, digits and "
		          "'-', at most "
		          "63, starting and ending with a letter or digit)",
		          QUOTE(s, q));
		return;
	}
	*dst = dup_or_flag(ld, s);
}

static const struct field listener_fields[] = {
    {.key = "name",
     .type = FT_CUSTOM,
     .off = offsetof(struct gw_listener_config, name),
     .parse = parse_listener_name,
     .required = true},
    {.key = "address", .type = FT_ADDR, .off = offsetof(struct gw_listener_config, addr), .required = true},
    {.key = "tls", .type = FT_CUSTOM, .off = offsetof(struct gw_listener_config, tls), .parse = parse_tls},
};

static bool addr_is_any(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

static uint16_t addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

/* Whether two sockets on these addresses would collide: the same port, and the same address or either a
 * wildcard ([::] counts for both families: Linux sockets are dual-stack by default). */
static bool addr_collides(const struct net_addr *a, const struct net_addr *b)
{
	if (!a->len || !b->len || addr_port(a) != addr_port(b))
		return false;
	if (!strcmp(a->text, b->text))
		return true;
	if (a->ss.ss_family == b->ss.ss_family)
		return addr_is_any(a) || addr_is_any(b);
	return (a->ss.ss_family == AF_INET6 && addr_is_any(a)) ||
	       (b->ss.ss_family == AF_INET6 && addr_is_any(b));
}

/* Names are unique; no two listeners can bind the same address. */
static void check_listener(struct loader *ld, struct gw_config *c, size_t i, yaml_node_t *it,
                           const char *path)
{
	char sub[GW_PATH_CAP], q[DIAG_QUOTE_CAP];
	const struct gw_listener_config *l = &c->listeners[i];
	for (size_t j = 0; j < i; j++) {
		const struct gw_listener_config *o = &c->listeners[j];
		if (l->name && o->name && !strcmp(l->name, o->name)) {
			path_key(sub, path, "name");
			cfg_error(ld, map_get(ld, it, "name"), sub,
			          "duplicate listener name %s (also listeners[%zu])", QUOTE(l->name, q), j);
		}
		if (addr_collides(&l->addr, &o->addr)) {
			path_key(sub, path, "address");
			cfg_error(ld, map_get(ld, it, "address"), sub,
			          "address %s collides with listeners[%zu] (%s)", l->addr.text, j,
			          o->addr.text);
		}
	}
}

static void parse_listeners(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	char item[GW_PATH_CAP];
	size_t n;
	yaml_node_item_t *items = list_items(ld, v, path, &n);
	if (!items)
		return;
	if (n == 0)
		cfg_error(ld, v, path, "at least one listener is required");
	if (n > GW_MAX_LISTENERS) {
		cfg_error(ld, v, path, "too many listeners (%zu); at most %d", n, GW_MAX_LISTENERS);
		n = GW_MAX_LISTENERS;
	}
	c->nlisteners = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = node_at(ld, items[i]);
		path_index(item, path, i);
		parse_mapping(ld, it, item, listener_fields, NFIELDS(listener_fields), &c->listeners[i],
		              NULL);
		check_listener(ld, c, i, it, item);
	}
}

/* ---- routes and endpoints ---- */

static void parse_routes(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	char item[GW_PATH_CAP], q[DIAG_QUOTE_CAP];
	size_t n;
	yaml_node_item_t *items = list_items(ld, v, path, &n);
	if (!items)
		return;
	if (n > GW_MAX_ROUTE_PATHS) {
		cfg_error(ld, v, path, "too many paths (%zu); at most %d", n, GW_MAX_ROUTE_PATHS);
		n = GW_MAX_ROUTE_PATHS;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = node_at(ld, items[i]);
		char *p = NULL;
		path_index(item, path, i);
		set_string(ld, it, item, &p, true);
		if (!p)
			continue;
		for (size_t j = 0; j < c->nroute_paths; j++)
			if (!strcmp(c->route_paths[j], p)) {
				/* Loading one manifest twice would only produce duplicate-route errors later.
				 */
				cfg_error(ld, it, item, "duplicate path %s", QUOTE(p, q));
				break;
			}
		c->route_paths[c->nroute_paths++] = p;
	}
}

static const struct field endpoint_fields[] = {
    {.key = "address", .type = FT_ADDR, .off = offsetof(struct gw_endpoint, addr), .required = true},
    {.key = "ready", .type = FT_BOOL, .off = offsetof(struct gw_endpoint, ready)},
};

/* The endpoint list of one key. Items are allocated now so that gw_config_free finds them on errors. */
static void parse_endpoint_list(struct loader *ld, yaml_node_t *v, const char *path,
                                struct gw_service_endpoints *svc)
{
	char item[GW_PATH_CAP];
	size_t n;
	yaml_node_item_t *items = list_items(ld, v, path, &n);
	if (!items || n == 0)
		return;
	if (n > GW_CONFIG_MAX_ENDPOINTS) {
		cfg_error(ld, v, path, "too many endpoints (%zu); at most %d", n, GW_CONFIG_MAX_ENDPOINTS);
		n = GW_CONFIG_MAX_ENDPOINTS;
	}
	svc->items = calloc(n, sizeof(*svc->items));
	if (!svc->items) {
		ld->nomem = true;
		return;
	}
	svc->count = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = node_at(ld, items[i]);
		struct gw_endpoint *e = &svc->items[i];
		e->ready = true;
		path_index(item, path, i);
		parse_mapping(ld, it, item, endpoint_fields, NFIELDS(endpoint_fields), e, NULL);
		for (size_t j = 0; e->addr.len && j < i; j++)
			if (!strcmp(svc->items[j].addr.text, e->addr.text)) {
				char sub[GW_PATH_CAP];
				path_key(sub, item, "address");
				cfg_error(ld, map_get(ld, it, "address"), sub,
				          "duplicate endpoint %s (also %s[%zu])", e->addr.text, path, j);
				break;
			}
	}
}

static void parse_endpoints(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	char sub[GW_PATH_CAP], q[DIAG_QUOTE_CAP];
	if (!want_type(ld, v, path, YAML_MAPPING_NODE))
		return;
	size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (n > GW_CONFIG_MAX_SERVICES) {
		cfg_error(ld, v, path, "too many keys (%zu); at most %d", n, GW_CONFIG_MAX_SERVICES);
		n = GW_CONFIG_MAX_SERVICES;
	}
	if (n == 0)
		return;
	c->services = calloc(n, sizeof(*c->services));
	if (!c->services) {
		ld->nomem = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(ld, p->key), *val = node_at(ld, p->value);
		if (!k || !val)
			continue;
		const char *key = want_scalar(ld, k, path, "a \"namespace/service:port\" key");
		if (!key)
			continue;
		path_mark_cut(sub, snprintf(sub, sizeof(sub), "%s[%s]", path, QUOTE(key, q)));
		if (!valid_service_key(key))
			cfg_error(ld, k, sub,
			          "invalid key; expected \"namespace/service:port\" with DNS labels and a "
			          "port number "
			          "(1..65535) or port name");
		for (size_t j = 0; j < c->nservices; j++)
			if (!strcmp(c->services[j].key, key)) {
				cfg_error(ld, k, sub, "duplicate key");
				break;
			}
		struct gw_service_endpoints *svc = &c->services[c->nservices];
		svc->key = dup_or_flag(ld, key);
		if (!svc->key)
			return;
		c->nservices++;
		parse_endpoint_list(ld, val, sub, svc);
	}
}

/* ---- the top level ---- */

static const char *const log_levels[] = {"debug", "info", "warn", "error", "critical"};

static void parse_log_level(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	char q[DIAG_QUOTE_CAP];
	char **dst = obj;
	const char *s = want_scalar(ld, v, path, "a log level");
	if (!s)
		return;
	for (size_t i = 0; i < NFIELDS(log_levels); i++)
		if (!strcmp(s, log_levels[i])) {
			free(*dst);
			*dst = dup_or_flag(ld, s);
			return;
		}
	cfg_error(ld, v, path, "invalid log level %s; use debug, info, warn, error or critical", QUOTE(s, q));
}

static const struct field tuning_fields[] = {
    {.key = "tcpNoDelay", .type = FT_BOOL, .off = offsetof(struct gw_tuning, tcp_nodelay)},
    {.key = "reusePort", .type = FT_BOOL, .off = offsetof(struct gw_tuning, reuse_port)},
    {.key = "busyPollMicros",
     .type = FT_UINT,
     .off = offsetof(struct gw_tuning, busy_poll_us),
     .min = 0,
     .max = 100000},
    {.key = "pinWorkers", .type = FT_BOOL, .off = offsetof(struct gw_tuning, pin_workers)},
};

/* admin and rejectEngine fill fields of gw_config itself, so their offsets are from its start. */
static const struct field admin_fields[] = {
    {.key = "address", .type = FT_ADDR, .off = offsetof(struct gw_config, admin_addr), .required = true},
};

enum { REJECT_ENABLED, REJECT_ADDRESS };

static const struct field reject_fields[] = {
    [REJECT_ENABLED] = {.key = "enabled", .type = FT_BOOL, .off = offsetof(struct gw_config, reject_enabled)},
    [REJECT_ADDRESS] = {.key = "address", .type = FT_ADDR, .off = offsetof(struct gw_config, reject_addr)},
};

static void parse_reject(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	yaml_node_t *seen[NFIELDS(reject_fields)];
	parse_mapping(ld, v, path, reject_fields, NFIELDS(reject_fields), c, seen);
	if (c->reject_enabled && !seen[REJECT_ADDRESS])
		cfg_error(ld, v, path, "address is required when enabled is true");
}

static const struct field routing_table_fields[] = {
    {.key = "namespace", .type = FT_STRING, .off = offsetof(struct gw_routing_table, namespace_)},
    {.key = "name", .type = FT_STRING, .off = offsetof(struct gw_routing_table, name)},
};

static void parse_k8s_routes(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	enum gw_k8s_routes *r = obj;
	const char *s = v->type == YAML_SCALAR_NODE ? scalar_text(v) : "";
	if (!strcmp(s, "published"))
		*r = GW_K8S_ROUTES_PUBLISHED;
	else if (!strcmp(s, "direct"))
		*r = GW_K8S_ROUTES_DIRECT;
	else
		cfg_error(ld, v, path,
		          "want 'published' (the operator's validated routing table) or 'direct' (FIXSession "
		          "objects, compiled by the gateway)");
}

static const struct field kubernetes_fields[] = {
    {.key = "routes",
     .type = FT_CUSTOM,
     .off = offsetof(struct gw_kubernetes, routes),
     .parse = parse_k8s_routes},
    {.key = "routingTable",
     .type = FT_MAP,
     .off = offsetof(struct gw_kubernetes, table),
     .sub = routing_table_fields,
     .nsub = NFIELDS(routing_table_fields)},
    {.key = "inCluster", .type = FT_BOOL, .off = offsetof(struct gw_kubernetes, in_cluster)},
    {.key = "kubeconfig", .type = FT_PATH, .off = offsetof(struct gw_kubernetes, kubeconfig)},
    {.key = "namespace", .type = FT_STRING, .off = offsetof(struct gw_kubernetes, namespace_)},
    {.key = "syncTimeout",
     .type = FT_DURATION,
     .off = offsetof(struct gw_kubernetes, sync_timeout_ms),
     .min = 1000,
     .max = 600000},
    {.key = "gatewayService", .type = FT_STRING, .off = offsetof(struct gw_kubernetes, gateway_service)},
};

/* NAMESPACE/NAME: a namespace and a Service name, as the API server accepts them. */
static bool valid_service_ref(const char *s)
{
	const char *slash = strchr(s, '/');
	return slash && k8s_is_dns1123_label(s, (size_t)(slash - s)) &&
	       k8s_is_dns1035_label(slash + 1, strlen(slash + 1));
}

static void parse_kubernetes(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	c->kubernetes.enabled = true;
	parse_mapping(ld, v, path, kubernetes_fields, NFIELDS(kubernetes_fields), &c->kubernetes, NULL);
	if (c->kubernetes.namespace_ &&
	    !k8s_is_dns1123_label(c->kubernetes.namespace_, strlen(c->kubernetes.namespace_)))
		cfg_error(ld, map_get(ld, v, "namespace"), "kubernetes.namespace",
		          "not a namespace name (a DNS label: lower-case letters, digits and '-')");
	const struct gw_routing_table *t = &c->kubernetes.table;
	yaml_node_t *tn = map_get(ld, v, "routingTable");
	if (t->namespace_ && !k8s_is_dns1123_label(t->namespace_, strlen(t->namespace_)))
		cfg_error(ld, tn, "kubernetes.routingTable.namespace",
		          "not a namespace name (a DNS label: lower-case letters, digits and '-')");
	if (t->name && !k8s_is_dns1123_subdomain(t->name, strlen(t->name)))
		cfg_error(ld, tn, "kubernetes.routingTable.name",
		          "not a ConfigMap name (lower-case letters, digits, '-' and '.')");
	if (tn && c->kubernetes.routes == GW_K8S_ROUTES_DIRECT)
		cfg_error(ld, tn, "kubernetes.routingTable", "only used with routes: published");
	if (c->kubernetes.gateway_service && !valid_service_ref(c->kubernetes.gateway_service))
		cfg_error(ld, map_get(ld, v, "gatewayService"), "kubernetes.gatewayService",
		          "want NAMESPACE/NAME of the gateway's admin Service (a namespace and a Service "
		          "name: lower-case letters, digits and '-')");
}

#define CFG(member) offsetof(struct gw_config, member)

/* ---- telemetry ---- */

/* The telemetry section: each option handed to otlp_config_set, nested mappings ("traces: {endpoint:
 * ...}", "resource: {k: v}") flattened to the dotted names it knows ("traces.endpoint"). File options
 * (caFile, certFile, keyFile) are resolved against the config directory as other paths are. prefix is
 * the dotted name so far (NULL at the section itself). */
static void telemetry_option(struct loader *ld, yaml_node_t *v, const char *path, const char *prefix,
                             struct otlp_config *oc)
{
	char err[256], child[GW_PATH_CAP], name[128];
	if (!prefix || (v->type == YAML_MAPPING_NODE && !strchr(prefix, '.'))) {
		if (!want_type(ld, v, path, YAML_MAPPING_NODE))
			return;
		for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_at(ld, p->key), *val = node_at(ld, p->value);
			if (!k || !val)
				continue;
			if (k->type != YAML_SCALAR_NODE) {
				cfg_error(ld, k, path, "keys must be strings, found %s", node_kind(k));
				continue;
			}
			path_key(child, path, scalar_text(k));
			snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			         scalar_text(k));
			telemetry_option(ld, val, child, name, oc);
		}
		return;
	}
	const char *s = want_scalar(ld, v, path, "a string, number or boolean");
	if (!s)
		return;
	if (!printable(s, false)) {
		cfg_error(ld, v, path, "control characters are not allowed");
		return;
	}
	size_t klen = strlen(prefix);
	bool is_file = klen >= 4 && !strcmp(prefix + klen - 4, "File");
	char *val = is_file ? resolve_path(ld, s) : NULL;
	if (is_file && !val)
		return;
	if (otlp_config_set(oc, prefix, val ? val : s, err, sizeof(err)) != 0)
		cfg_error(ld, v, path, "%s", err);
	free(val);
}

static void parse_telemetry(struct loader *ld, yaml_node_t *v, const char *path, void *obj)
{
	struct gw_config *c = obj;
	telemetry_option(ld, v, path, NULL, &c->telemetry);
}

static const struct field top_fields[] = {
    {.key = "workers", .type = FT_UINT, .off = CFG(workers), .min = 1, .max = GW_CONFIG_MAX_WORKERS},
    {.key = "listeners", .type = FT_CUSTOM, .parse = parse_listeners, .required = true},
    {.key = "admin", .type = FT_MAP, .sub = admin_fields, .nsub = NFIELDS(admin_fields)},
    {.key = "logonTimeout", .type = FT_DURATION, .off = CFG(logon_timeout_ms), .min = 100, .max = 300000},
    {.key = "maxLogonBytes", .type = FT_UINT, .off = CFG(max_logon_bytes), .min = 256, .max = 1048576},
    {.key = "connectTimeout", .type = FT_DURATION, .off = CFG(connect_timeout_ms), .min = 10, .max = 60000},
    {.key = "idleTimeout",
     .type = FT_DURATION,
     .off = CFG(idle_timeout_ms),
     .min = 1000,
     .max = 86400000,
     .zero_ok = true},
    {.key = "holdTimeout", .type = FT_DURATION, .off = CFG(hold_timeout_ms), .min = 1000, .max = 3600000},
    {.key = "maxHeldConnectionsPerPod",
     .type = FT_UINT,
     .off = CFG(max_held_per_process),
     .min = 0,
     .max = 100000},
    {.key = "holdReleaseRate", .type = FT_UINT, .off = CFG(hold_release_per_sec), .min = 1, .max = 10000},
    {.key = "maxConnections", .type = FT_UINT, .off = CFG(max_connections), .min = 1, .max = 1000000},
    {.key = "shutdownGracePeriod",
     .type = FT_DURATION,
     .off = CFG(shutdown_grace_ms),
     .min = 0,
     .max = 3600000},
    {.key = "logLevel", .type = FT_CUSTOM, .off = CFG(log_level), .parse = parse_log_level},
    {.key = "tuning",
     .type = FT_MAP,
     .off = CFG(tuning),
     .sub = tuning_fields,
     .nsub = NFIELDS(tuning_fields)},
    {.key = "rejectEngine", .type = FT_CUSTOM, .parse = parse_reject},
    {.key = "routes", .type = FT_CUSTOM, .parse = parse_routes},
    {.key = "endpoints", .type = FT_CUSTOM, .parse = parse_endpoints},
    {.key = "kubernetes", .type = FT_CUSTOM, .parse = parse_kubernetes},
    {.key = "telemetry", .type = FT_CUSTOM, .parse = parse_telemetry},
};

_Static_assert(NFIELDS(top_fields) <= FIELDS_MAX && NFIELDS(tls_fields) <= FIELDS_MAX,
               "FIELDS_MAX too small");

/* An endpoint that is one of our own listeners turns one Logon into a connection storm: the gateway would
 * route the forwarded Logon again, and again, up to maxConnections. Walks the YAML again (services are
 * in document order here) for the line of each address. */
static void check_endpoint_loops(struct loader *ld, const struct gw_config *c, yaml_node_t *map)
{
	char sub[GW_PATH_CAP], q[DIAG_QUOTE_CAP];
	if (!map || map->type != YAML_MAPPING_NODE)
		return;
	size_t npairs = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	for (size_t i = 0, s = 0; i < npairs && s < c->nservices; i++) {
		yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(ld, p->key), *val = node_at(ld, p->value);
		const struct gw_service_endpoints *svc = &c->services[s];
		if (!k || !val || k->type != YAML_SCALAR_NODE ||
		    strcmp((const char *)k->data.scalar.value, svc->key))
			continue;
		s++;
		for (size_t e = 0; e < svc->count; e++) {
			for (size_t l = 0; l < c->nlisteners; l++) {
				if (!net_addr_is_self(&svc->items[e].addr, &c->listeners[l].addr))
					continue;
				yaml_node_t *it = val->type == YAML_SEQUENCE_NODE
				                      ? node_at(ld, val->data.sequence.items.start[e])
				                      : NULL;
				snprintf(sub, sizeof(sub), "endpoints[%s][%zu].address", QUOTE(svc->key, q),
				         e);
				cfg_error(ld, it ? map_get(ld, it, "address") : k, sub,
				          "endpoint %s is this gateway's own listener %s (%s): a Logon "
				          "routed there "
				          "would loop back into the gateway",
				          svc->items[e].addr.text, c->listeners[l].name,
				          c->listeners[l].addr.text);
				break;
			}
		}
	}
}

/* The admin listener and the reject engine must not land on a listener's address: the first would fail
 * to bind, the second would send unmatched connections back into the gateway. */
static void check_cross(struct loader *ld, const struct gw_config *c, yaml_node_t *root)
{
	yaml_node_t *admin = map_get(ld, map_get(ld, root, "admin"), "address");
	yaml_node_t *reject = map_get(ld, map_get(ld, root, "rejectEngine"), "address");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct net_addr *l = &c->listeners[i].addr;
		if (addr_collides(&c->admin_addr, l))
			cfg_error(ld, admin, "admin.address", "address %s collides with listeners[%zu] (%s)",
			          c->admin_addr.text, i, l->text);
		if (c->reject_enabled && addr_collides(&c->reject_addr, l))
			cfg_error(ld, reject, "rejectEngine.address",
			          "address %s is listeners[%zu] (%s); unmatched connections would loop back "
			          "into the "
			          "gateway",
			          c->reject_addr.text, i, l->text);
	}
	if (c->reject_enabled && addr_collides(&c->reject_addr, &c->admin_addr))
		cfg_error(ld, reject, "rejectEngine.address", "address %s is the admin listener's address",
		          c->reject_addr.text);
	check_endpoint_loops(ld, c, map_get(ld, root, "endpoints"));
}

/* In Kubernetes mode FIXSessions and endpoints come from the API server: keys that would say otherwise
 * are errors, not silently ignored. */
static void check_kubernetes_mode(struct loader *ld, struct gw_config *c, yaml_node_t *root)
{
	if (ld->opts->kubeconfig) {
		c->kubernetes.enabled = true;
		free(c->kubernetes.kubeconfig);
		c->kubernetes.kubeconfig = strdup(ld->opts->kubeconfig);
		ld->nomem |= !c->kubernetes.kubeconfig;
	}
	if (!c->kubernetes.enabled)
		return;
	if (!c->kubernetes.sync_timeout_ms)
		c->kubernetes.sync_timeout_ms = 60000;
	static const char *const from_api[] = {"routes", "endpoints"};
	for (size_t i = 0; i < NFIELDS(from_api); i++) {
		yaml_node_t *k = map_key(ld, root, from_api[i]);
		if (k)
			cfg_error(
			    ld, k, from_api[i],
			    "not used in Kubernetes mode: FIXSessions and endpoints come from the API server "
			    "(remove the key, or run without --kubeconfig and the kubernetes section)");
	}
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* The OTLP options in the order the exporter document gives (later wins): the file's telemetry section
 * (already parsed), the OTEL_* environment, then --otlp-endpoint and --otlp KEY=VALUE. */
static void apply_telemetry_overrides(struct loader *ld, struct gw_config *c)
{
	char err[256], key[128];
	if (otlp_config_from_env(&c->telemetry, env_get, err, sizeof(err)) != 0)
		cfg_error(ld, NULL, "telemetry", "environment: %s", err);
	for (size_t i = 0; i < ld->opts->notlp_set; i++) {
		const char *kv = ld->opts->otlp_set[i], *eq = strchr(kv, '=');
		if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
			cfg_error(ld, NULL, "telemetry", "--otlp expects KEY=VALUE");
			continue;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
		if (otlp_config_set(&c->telemetry, key, eq + 1, err, sizeof(err)) != 0)
			cfg_error(ld, NULL, "telemetry", "--otlp: %s", err);
	}
	if (ld->opts->otlp_endpoint &&
	    otlp_config_set(&c->telemetry, "endpoint", ld->opts->otlp_endpoint, err, sizeof(err)) != 0)
		cfg_error(ld, NULL, "telemetry", "--otlp-endpoint: %s", err);
}

static void load_root(struct loader *ld, yaml_node_t *root, struct gw_config *c)
{
	parse_mapping(ld, root, "", top_fields, NFIELDS(top_fields), c, NULL);
	check_cross(ld, c, root);
	check_kubernetes_mode(ld, c, root);
	apply_telemetry_overrides(ld, c);
}

/* ---- reading and parsing ---- */

/* Read the config file whole; every failure is one diagnostic at the path. */
static int read_config(const char *path, char **out, size_t *out_len, struct diag_list *dl)
{
	int rc = io_read_file(path, GW_CONFIG_MAX_BYTES, out, out_len);
	switch (rc) {
	case 0:
	case -ENOMEM:
		return rc;
	case -EFBIG:
		diag_add(dl, DIAG_ERROR, path, 0, 0, NULL, "the config file is larger than %u bytes",
		         GW_CONFIG_MAX_BYTES);
		return FIXGW_EINVAL;
	case -EISDIR:
	case -EINVAL:
		diag_add(dl, DIAG_ERROR, path, 0, 0, NULL, "the config must be a regular file");
		return rc;
	default:
		diag_add(dl, DIAG_ERROR, path, 0, 0, NULL, "cannot open the config file: %s",
		         fixgw_strerror(rc));
		return rc;
	}
}

static int syntax_error(struct loader *ld, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return FIXGW_ENOMEM;
	/* libyaml's problem and context texts are its own constants, never input. */
	ld->nerrors++;
	diag_add(ld->dl, DIAG_ERROR, ld->file, (unsigned)p->problem_mark.line + 1,
	         (unsigned)p->problem_mark.column + 1, NULL, "YAML syntax error: %s%s%s",
	         p->problem ? p->problem : "unknown problem", p->context ? " " : "",
	         p->context ? p->context : "");
	return FIXGW_EINVAL;
}

/* Compose the one document of the file within GW_CONFIG_MAX_DEPTH and GW_CONFIG_MAX_NODES in a single
 * pass (core/yaml_doc.h), then walk it. A second document is an error. */
static int load_document(struct loader *ld, const char *buf, size_t len, struct gw_config *c)
{
	static const struct yaml_doc_limits limits = {GW_CONFIG_MAX_DEPTH, GW_CONFIG_MAX_NODES};
	yaml_parser_t p;
	yaml_document_t doc, extra;
	yaml_mark_t at = {0, 0, 0};
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		return FIXGW_ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	enum yaml_doc_status st = yaml_doc_next(&p, &limits, &doc, &at);
	if (st == YAML_DOC_OK) {
		enum yaml_doc_status next = yaml_doc_next(&p, &limits, &extra, &at);
		if (next == YAML_DOC_OK) {
			at = extra.start_mark;
			yaml_document_delete(&extra);
			yaml_document_delete(&doc);
			st = YAML_DOC_OK + 100; /* reported below */
		} else if (next != YAML_DOC_END) {
			yaml_document_delete(&doc);
			st = next;
		}
	}
	switch ((int)st) {
	case YAML_DOC_OK: {
		ld->doc = &doc;
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) {
			ld->nerrors++;
			diag_add(ld->dl, DIAG_ERROR, ld->file, 0, 0, NULL, "the config file is empty");
		} else {
			load_root(ld, root, c);
		}
		ld->doc = NULL;
		yaml_document_delete(&doc);
		break;
	}
	case YAML_DOC_END:
		ld->nerrors++;
		diag_add(ld->dl, DIAG_ERROR, ld->file, 0, 0, NULL, "the config file is empty");
		break;
	case YAML_DOC_SYNTAX:
		rc = syntax_error(ld, &p);
		break;
	case YAML_DOC_NOMEM:
		rc = FIXGW_ENOMEM;
		break;
	default: {
		const char *problem = (int)st == YAML_DOC_OK + 100 ? "the config must be one YAML document"
		                      : st == YAML_DOC_DEPTH       ? "nesting is too deep"
		                      : st == YAML_DOC_NODES       ? "too many values in the file"
		                                                   : "found undefined alias";
		ld->nerrors++;
		diag_add(ld->dl, DIAG_ERROR, ld->file, at.line + 1, at.column + 1, NULL, "%s", problem);
		rc = FIXGW_EINVAL;
		break;
	}
	}
	yaml_parser_delete(&p);
	return rc;
}

/* The directory of path, absolute (from the working directory when path is relative). The config's own
 * symlinks are not resolved: a Kubernetes ConfigMap volume swaps a "..data" link, and paths must keep
 * following it. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	if (slash && dlen == 0)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, dlen);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return slash ? strndup(path, dlen) : strdup(".");
	size_t n = strlen(cwd) + 1 + dlen + 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	if (slash)
		snprintf(out, n, "%s/%.*s", cwd, (int)dlen, path);
	else
		snprintf(out, n, "%s", cwd);
	return out;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > GW_CONFIG_MAX_WORKERS ? GW_CONFIG_MAX_WORKERS : (unsigned)n;
}

static struct gw_config *config_new(const char *path)
{
	struct gw_config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->path = strdup(path);
	c->log_level = strdup("info");
	otlp_config_init(&c->telemetry);
	if (!c->path || !c->log_level) {
		gw_config_free(c);
		return NULL;
	}
	c->workers = online_cpus();
	for (size_t i = 0; i < GW_MAX_LISTENERS; i++)
		c->listeners[i].tls.min_version = TLS1_2_VERSION;
	c->logon_timeout_ms = 10000;
	c->max_logon_bytes = 65536;
	c->connect_timeout_ms = 2000;
	c->idle_timeout_ms = 0;
	c->hold_timeout_ms = 30000;
	c->max_held_per_process = 500;
	c->hold_release_per_sec = 20;
	c->max_connections = 10000;
	c->shutdown_grace_ms = 30000;
	c->tuning.tcp_nodelay = true;
	c->tuning.reuse_port = true;
	return c;
}

static int cmp_services(const void *a, const void *b)
{
	return strcmp(((const struct gw_service_endpoints *)a)->key,
	              ((const struct gw_service_endpoints *)b)->key);
}

int gw_config_load(const char *path, struct gw_config **out, struct diag_list *dl)
{
	return gw_config_load_opts(path, NULL, out, dl);
}

int gw_config_load_opts(const char *path, const struct gw_config_opts *opts, struct gw_config **out,
                        struct diag_list *dl)
{
	static const struct gw_config_opts none;
	struct loader ld = {.opts = opts ? opts : &none, .file = path, .dl = dl};
	struct gw_config *c = NULL;
	char *buf = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = read_config(path, &buf, &len, dl);
	if (rc)
		return rc;
	rc = FIXGW_ENOMEM;
	c = config_new(path);
	ld.dir = config_dir(path);
	if (!c || !ld.dir)
		goto out;
	rc = load_document(&ld, buf, len, c);
	if (rc)
		goto out;
	if (ld.nomem)
		rc = FIXGW_ENOMEM;
	else if (ld.nerrors)
		rc = FIXGW_EINVAL;
	if (rc)
		goto out;
	if (c->nservices)
		qsort(c->services, c->nservices, sizeof(*c->services), cmp_services);
	*out = c;
	c = NULL;
out:
	gw_config_free(c);
	free(ld.dir);
	free(buf);
	return rc;
}

void gw_config_free(struct gw_config *c)
{
	if (!c)
		return;
	free(c->path);
	for (size_t i = 0; i < GW_MAX_LISTENERS; i++) {
		free(c->listeners[i].name);
		tls_config_free(&c->listeners[i].tls);
	}
	free(c->log_level);
	for (size_t i = 0; i < c->nroute_paths; i++)
		free(c->route_paths[i]);
	for (size_t i = 0; i < c->nservices; i++) {
		free(c->services[i].key);
		free(c->services[i].items);
	}
	free(c->services);
	free(c->kubernetes.kubeconfig);
	free(c->kubernetes.namespace_);
	free(c->kubernetes.gateway_service);
	free(c->kubernetes.table.namespace_);
	free(c->kubernetes.table.name);
	otlp_config_free(&c->telemetry);
	free(c);
}

const struct gw_service_endpoints *gw_config_service(const struct gw_config *c, const char *key)
{
	if (!c || !key || !c->nservices)
		return NULL;
	struct gw_service_endpoints probe = {.key = (char *)key};
	return bsearch(&probe, c->services, c->nservices, sizeof(*c->services), cmp_services);
}
