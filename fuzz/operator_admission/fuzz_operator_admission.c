/* fuzz_operator_admission.c - libFuzzer target for the admission webhook's input: the HTTP request head
 * parser and the AdmissionReview parser, then the decision against a small FIXSession set and the
 * response.
 *
 * Properties checked on every input:
 *  - the head parser never reads past the input, and a complete head lies within it;
 *  - an AdmissionReview is either refused with a reason (the HTTP 400 body) or decoded with a uid;
 *  - a decoded one gets a decision and a response that is JSON naming the same uid.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "core/http_head.h"
#include "operator/admission.h"

static struct fs_vec set;
static struct admission_cache *cache;

static void add(const char *ns, const char *name, const char *sender)
{
	json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:{s:{s:s}},s:{s:{s:s,s:{s:i}}}}}", "apiVersion",
	                      "fixgw.io/v1alpha1", "kind", "FIXSession", "metadata", "name", name,
	                      "namespace", ns, "spec", "matchFields", "SenderCompID49", "value", sender,
	                      "target", "service", "name", "engine", "port", "number", 9880);
	char key[128];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	set.v = realloc(set.v, (set.n + 1) * sizeof(*set.v));
	set.v[set.n++] = (struct fs_item){strdup(key), o};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!set.n) {
		add("t", "a", "A");
		add("t", "b", "B");
		add("u", "c", "C");
		if (admission_cache_new(&cache) || admission_cache_sync(cache, &set))
			abort();
	}
	/* an exact-size copy, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	struct http_head h;
	const char *why = NULL;
	enum http_head_status st = http_head_parse(buf, size, &h, &why);
	if (st == HTTP_HEAD_DONE && (h.head_len > size || h.method.p + h.method.len > buf + size))
		abort();
	if (st == HTTP_HEAD_INVALID && (!why || !*why))
		abort();

	struct admission_request rq;
	char err[256] = "";
	int rc = admission_parse(buf, size, &rq, err, sizeof(err));
	if (rc == FIXGW_EINVAL && !err[0])
		abort();
	if (rc == 0) {
		if (!rq.uid || !rq.uid[0])
			abort();
		struct admission_verdict v;
		if (admission_decide(&rq, cache, &v) == 0) {
			size_t len = 0;
			char *text = admission_response(rq.uid, &v, &len);
			json_t *doc = text ? json_loadb(text, len, 0, NULL) : NULL;
			const char *uid =
			    json_string_value(json_object_get(json_object_get(doc, "response"), "uid"));
			if (text && (!uid || strcmp(uid, rq.uid) != 0))
				abort();
			json_decref(doc);
			free(text);
		}
		admission_request_free(&rq);
	}
	free(buf);
	return 0;
}
