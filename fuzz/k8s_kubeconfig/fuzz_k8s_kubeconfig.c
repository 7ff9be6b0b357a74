/* fuzz_k8s_kubeconfig.c - libFuzzer target for the kubeconfig reader.
 *
 * Properties checked on every input: no crash, leak or unbounded work; the result is either a complete
 * configuration (an https:// server and credentials) or at least one error diagnostic and an empty config;
 * when the dictionary's secret ("s3cr3tT0k3n") appears only as token values (every occurrence right after
 * "token: "), no diagnostic contains it (names are echoed in diagnostics, token values never).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/errors.h"
#include "k8s/config.h"

#define SECRET "s3cr3tT0k3n"

/* True when the secret occurs and every occurrence is a token value. */
static bool secret_only_as_token(const uint8_t *data, size_t size)
{
	static const char before[] = "token: ";
	size_t sl = strlen(SECRET), bl = strlen(before), found = 0;
	for (size_t i = 0; i + sl <= size; i++) {
		if (memcmp(data + i, SECRET, sl) != 0)
			continue;
		if (i < bl || memcmp(data + i - bl, before, bl) != 0)
			return false;
		found++;
	}
	return found > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_config c;
	struct diag_list dl;
	diag_list_init(&dl);
	int rc =
	    k8s_config_load_kubeconfig_buffer("/fuzz/kubeconfig", (const char *)data, size, NULL, &c, &dl);
	if (rc == 0) {
		if (!c.server || strncmp(c.server, "https://", 8) != 0 || dl.nerrors)
			abort();
		if (!c.token && !c.token_file && !c.cert_file && !c.cert_pem.data)
			abort();
		k8s_config_free(&c);
	} else {
		if (c.server || c.token || (rc == FIXGW_EINVAL && dl.nerrors == 0))
			abort();
	}
	bool check = secret_only_as_token(data, size);
	for (size_t i = 0; check && i < dl.count; i++)
		if (strstr(dl.items[i].message, SECRET) ||
		    (dl.items[i].path && strstr(dl.items[i].path, SECRET)))
			abort();
	diag_list_free(&dl);
	return 0;
}
