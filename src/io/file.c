/* file.c - read whole files (file.h). */
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/grow.h"

int io_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out_fd;
	}
	if (st.st_size > 0 && (unsigned long long)st.st_size > max) {
		rc = -EFBIG;
		goto out_fd;
	}
	size_t cap = (size_t)st.st_size < max ? (size_t)st.st_size + 2 : max + 2;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out_fd;
	}
	while (n <= max) {
		/* the file grew (or reported size 0, as /proc files do): room for a byte more and the NUL */
		if (grow_array(&buf, &cap, n + 2, 1, cap, max + 2) != 0) {
			rc = -ENOMEM;
			goto out_buf;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out_buf;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = -EFBIG;
		goto out_buf;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	close(fd);
	return 0;

out_buf:
	free(buf);
out_fd:
	close(fd);
	return rc;
}
