/* cmd_logon.c - `fixgw logon parse`: scan a Logon from standard input and show what the gateway sees. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/fix_dict.h"
#include "core/redact.h"

static void logon_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: fixgw logon parse [--json] [--max-bytes N]\n\n"
	    "Reads the first bytes a counterparty would send (a FIX Logon, 35=A) on standard input and\n"
	    "prints what the gateway extracts: status, Logon length, BeginString and every field by tag.\n"
	    "Secret fields (554, 925, 95/96, 90/91, 1400-1404) are always shown as [REDACTED].\n\n"
	    "  --json          one JSON object: {status, reason, length, begin_string, fields, ...}\n"
	    "  --max-bytes N   size limit of a Logon (default %u)\n\n"
	    "exit status: 0 complete Logon, 1 invalid, 3 incomplete (input ended first), 2 usage\n",
	    FIX_SCAN_DEFAULT_MAX_BYTES);
}

static const char *status_word(enum fix_scan_status st)
{
	return st == FIX_SCAN_COMPLETE ? "ok" : st == FIX_SCAN_INVALID ? "invalid" : "incomplete";
}

/* Rendered value of field i (escaped, secrets masked). */
static void field_text(const struct cmd_logon_input *in, size_t i, char *out, size_t cap)
{
	const struct fix_field *f = &in->sc.fields[i];
	redact_value(NULL, f->tag, in->buf + f->value_off, f->value_len, out, cap);
}

/* Tags that occur more than once with different values (what the router refuses to route on). */
static json_t *ambiguous_tags(const struct cmd_logon_input *in)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < in->sc.nfields; i++) {
		uint32_t tag = in->sc.fields[i].tag;
		bool seen_before = false;
		for (size_t j = 0; j < i && !seen_before; j++)
			seen_before = in->sc.fields[j].tag == tag;
		struct fix_field first;
		if (!seen_before && fix_scan_find(&in->sc, in->buf, tag, &first) == FIX_LOOKUP_AMBIGUOUS)
			json_array_append_new(arr, json_integer(tag));
	}
	return arr;
}

static void print_json(const struct cmd_logon_input *in)
{
	json_t *o = json_object();
	char text[1024];
	json_object_set_new(o, "status", json_string(status_word(in->status)));
	json_object_set_new(o, "reason",
	                    in->status == FIX_SCAN_COMPLETE ? json_null() : json_string(cmd_scan_reason(in)));
	json_object_set_new(o, "length",
	                    in->status == FIX_SCAN_COMPLETE ? json_integer((json_int_t)in->sc.length)
	                                                    : json_null());
	struct fix_field bs = fix_scan_begin_string(&in->sc);
	redact_value(NULL, FIX_TAG_BEGIN_STRING, in->buf + bs.value_off, bs.value_len, text, sizeof(text));
	json_object_set_new(o, "begin_string", in->sc.nfields ? json_string(text) : json_null());
	json_t *fields = json_object();
	for (size_t i = 0; i < in->sc.nfields; i++) {
		char key[16];
		snprintf(key, sizeof(key), "%u", in->sc.fields[i].tag);
		if (json_object_get(fields, key))
			continue; /* first occurrence wins, as in routing */
		field_text(in, i, text, sizeof(text));
		json_object_set_new(fields, key, json_string(text));
	}
	json_object_set_new(o, "fields", fields);
	json_object_set_new(o, "ambiguous_tags", ambiguous_tags(in));
	json_object_set_new(o, "body_length_mismatch",
	                    json_boolean(in->status == FIX_SCAN_COMPLETE && in->sc.body_length_mismatch));
	json_object_set_new(
	    o, "trailing_bytes",
	    json_integer(in->status == FIX_SCAN_COMPLETE ? (json_int_t)(in->len - in->sc.length) : 0));
	if (cmd_print_json(o) < 0)
		fprintf(stderr, "fixgw logon parse: out of memory\n");
	json_decref(o);
}

static void print_text(const struct cmd_logon_input *in)
{
	char text[1024], shown[4096];
	printf("status: %s\n", status_word(in->status));
	if (in->status != FIX_SCAN_COMPLETE)
		printf("reason: %s\n", cmd_scan_reason(in));
	else
		printf("length: %zu bytes%s\n", in->sc.length,
		       in->sc.body_length_mismatch ? " (BodyLength disagrees; trailer used)" : "");
	for (size_t i = 0; i < in->sc.nfields; i++) {
		const char *name = fix_dict_name(in->sc.fields[i].tag);
		field_text(in, i, text, sizeof(text));
		printf("%6u %-22s %s\n", in->sc.fields[i].tag, name ? name : "",
		       cmd_text(text, shown, sizeof(shown)));
	}
}

enum { OPT_JSON, OPT_MAX_BYTES };
static const struct cmd_opt logon_opts[] = {
    [OPT_JSON] = {"--json", NULL, NULL},
    [OPT_MAX_BYTES] = {"--max-bytes", NULL, "N, 16..16777216"},
};

int cmd_logon(int argc, char **argv)
{
	if (argc < 2 || cmd_is_help(argv[1])) {
		logon_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "parse") != 0)
		return cmd_usage_error("logon", "unknown subcommand '%s' (the one subcommand is parse)",
		                       argv[1]);
	bool json = false;
	size_t max_bytes = FIX_SCAN_DEFAULT_MAX_BYTES;
	const char *val;
	for (int i = 2; i < argc; i++) {
		switch (cmd_next_opt("logon parse", argc, argv, &i, logon_opts,
		                     sizeof(logon_opts) / sizeof(logon_opts[0]), &val)) {
		case CMD_OPT_HELP:
			logon_usage(stdout);
			return EXIT_OK;
		case CMD_OPT_BAD:
			return EXIT_USAGE;
		case CMD_OPT_ARG:
			return cmd_usage_error("logon parse",
			                       "unexpected argument '%s' (the Logon is read on "
			                       "standard input)",
			                       argv[i]);
		case OPT_JSON:
			json = true;
			break;
		case OPT_MAX_BYTES: {
			char *end;
			unsigned long v = strtoul(val, &end, 10);
			if (!*val || *end || val[0] == '-' || v < 16 || v > 16u * 1024 * 1024)
				return cmd_usage_error("logon parse",
				                       "--max-bytes must be 16..16777216, not '%s'", val);
			max_bytes = v;
			break;
		}
		}
	}
	struct cmd_logon_input in;
	if (cmd_logon_input_read(&in, max_bytes) < 0)
		return EXIT_USAGE;
	if (json)
		print_json(&in);
	else
		print_text(&in);
	int rc = in.status == FIX_SCAN_COMPLETE  ? EXIT_OK
	         : in.status == FIX_SCAN_INVALID ? EXIT_FAILURE_RESULT
	                                         : EXIT_INCOMPLETE;
	cmd_logon_input_free(&in);
	return rc;
}
