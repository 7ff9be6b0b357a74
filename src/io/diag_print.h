/* diag_print.h - print diagnostics (core/diag.h) to a stream. */
#ifndef FIXGW_IO_DIAG_PRINT_H
#define FIXGW_IO_DIAG_PRINT_H

#include <stdio.h>

#include "core/diag.h"

/** Print every stored diagnostic, one per line (diag_format); when some were dropped (max_items), one
 * last line says how many. */
void diag_print(const struct diag_list *dl, FILE *out);

#endif
