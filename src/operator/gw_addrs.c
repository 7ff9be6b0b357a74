/* gw_addrs.c - the endpoints of a Service that are gateway pods (gw_addrs.h). */
#include "operator/gw_addrs.h"

#include <stdio.h>

size_t gw_addrs_in_slices(const struct ip_set *gw, json_t *slices, char *first, size_t cap)
{
	if (cap)
		first[0] = '\0';
	if (!gw->count)
		return 0;
	struct ip_set hits = {0}; /* each address once, however many slices list it */
	size_t unsealed = 0, i, k, j;
	json_t *s, *ep, *addr;
	json_array_foreach(slices, i, s)
	{
		json_array_foreach(json_object_get(s, "endpoints"), k, ep)
		{
			json_array_foreach(json_object_get(ep, "addresses"), j, addr)
			{
				const char *text = json_string_value(addr);
				if (!text || !ip_set_has_text(gw, text))
					continue;
				if (!hits.count && !unsealed && cap)
					snprintf(first, cap, "%s", text);
				if (ip_set_add_text(&hits, text) != 0)
					unsealed++; /* out of memory: counted, maybe twice */
			}
		}
	}
	ip_set_seal(&hits);
	size_t n = hits.count + unsealed;
	ip_set_free(&hits);
	return n;
}
