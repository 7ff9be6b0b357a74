/* cmd_util.c - helpers shared by the subcommands. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

int cmd_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cmd_read_stdin(size_t max, char **out, size_t *len)
{
	size_t cap = max + 2, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	while (n < max + 1) {
		ssize_t r = read(STDIN_FILENO, buf + n, max + 1 - n);
		if (r == 0)
			break;
		if (r < 0) {
			free(buf);
			return -1;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int cmd_logon_input_read(struct cmd_logon_input *in, size_t max_bytes)
{
	memset(in, 0, sizeof(*in));
	if (cmd_read_stdin(max_bytes, &in->buf, &in->len) < 0) {
		perror("fixgw: reading standard input");
		return -1;
	}
	fix_scan_init(&in->sc, in->fields, FIX_SCAN_DEFAULT_MAX_FIELDS, max_bytes);
	in->status = fix_scan_step(&in->sc, in->buf, in->len);
	return 0;
}

void cmd_logon_input_free(struct cmd_logon_input *in)
{
	free(in->buf);
	in->buf = NULL;
}

const char *cmd_scan_reason(const struct cmd_logon_input *in)
{
	if (in->status == FIX_SCAN_NEED_MORE)
		return in->len ? "incomplete Logon: input ended before the CheckSum (10=) field"
		               : "empty input";
	return fix_scan_error_str(in->sc.error);
}
