/* diag_print.c - print diagnostics to a stream (diag_print.h). */
#include "io/diag_print.h"

#include <stdlib.h>

void diag_print(const struct diag_list *dl, FILE *out)
{
	for (size_t i = 0; i < dl->count; i++) {
		char line[1024];
		size_t n = diag_format(&dl->items[i], line, sizeof(line));
		if (n < sizeof(line)) {
			fprintf(out, "%s\n", line);
			continue;
		}
		char *big = malloc(n + 1); /* a long path or message: format it again, whole */
		if (big)
			diag_format(&dl->items[i], big, n + 1);
		fprintf(out, "%s\n", big ? big : line);
		free(big);
	}
	if (dl->dropped)
		fprintf(out, "note: %zu more diagnostics were not stored\n", dl->dropped);
}
