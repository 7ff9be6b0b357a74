/* fuzz_yaml_fast.c - differential libFuzzer target for the YAML fast path (ADR-017): for any input, every
 * document the fast path accepts must equal libyaml's node by node (types, values, styles, marks), and a
 * manifest load with the fast path on must give the same return code, diagnostics text and routes as one
 * with it off. Any difference aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/manifest.h"
#include "yaml_compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct yaml_doc_limits limits = {MANIFEST_MAX_DEPTH, MANIFEST_MAX_NODES};
	/* small limits too, so inputs reach them: the fast path must leave them to libyaml */
	static const struct yaml_doc_limits small = {4, 40};
	char why[2200];
	size_t accepted;
	enum yaml_fast_status last;
	const char *text = (const char *)data;
	const char *diff = yaml_compare_input(text, size, &limits, &accepted, &last, why, sizeof(why));
	if (!diff)
		diff = yaml_compare_input(text, size, &small, &accepted, &last, why, sizeof(why));
	if (!diff)
		diff = yaml_compare_loads(text, size, why, sizeof(why));
	if (diff) {
		fprintf(stderr, "fuzz_yaml_fast: %s\n", diff);
		abort();
	}
	return 0;
}
