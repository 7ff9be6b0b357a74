/* manifest_paths.c - walk files and directories, hand each file to the core manifest loader. */
#include "io/manifest_paths.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errors.h"
#include "core/manifest.h"
#include "io/file.h"

struct dir_id {
	dev_t dev;
	ino_t ino;
};

struct walk {
	struct manifest_loader *ld;
	struct diag_list *dl;
	int err;             /* sticky FIXGW_ENOMEM */
	struct dir_id *dirs; /* directories read so far: each is read once, so symlinks cannot loop */
	size_t ndirs, dirs_cap;
};

static void path_report(struct walk *w, enum diag_severity sev, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void path_report(struct walk *w, enum diag_severity sev, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (diag_addv(w->dl, sev, path, 0, 0, NULL, fmt, ap) != 0)
		w->err = FIXGW_ENOMEM;
	va_end(ap);
}

static void load_file(struct walk *w, const char *path, const struct stat *st)
{
	char *buf;
	size_t len;
	if (!S_ISREG(st->st_mode)) { /* checked before open: opening a FIFO would block */
		path_report(w, DIAG_ERROR, path, "not a regular file or directory");
		return;
	}
	if (st->st_size > (off_t)MANIFEST_MAX_FILE_BYTES) {
		path_report(w, DIAG_ERROR, path, "file is %lld bytes; the limit is %u",
		            (long long)st->st_size, MANIFEST_MAX_FILE_BYTES);
		return;
	}
	int rc = io_read_file(path, MANIFEST_MAX_FILE_BYTES, &buf, &len);
	if (rc == -ENOMEM) {
		w->err = FIXGW_ENOMEM;
	} else if (rc == -EINVAL) {
		path_report(w, DIAG_ERROR, path, "not a regular file or directory");
	} else if (rc == -EFBIG) {
		path_report(w, DIAG_ERROR, path, "file grew past the limit of %u bytes while being read",
		            MANIFEST_MAX_FILE_BYTES);
	} else if (rc < 0) {
		path_report(w, DIAG_ERROR, path, "cannot read: %s", fixgw_strerror(rc));
	} else {
		if (manifest_loader_add(w->ld, path, buf, len) == FIXGW_ENOMEM)
			w->err = FIXGW_ENOMEM;
		free(buf);
	}
}

static bool has_manifest_ext(const char *name)
{
	static const char *const exts[] = {".yaml", ".yml", ".json"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t e = strlen(exts[i]);
		if (n > e && strcmp(name + n - e, exts[i]) == 0)
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(struct walk *w, const char *path, unsigned depth, bool named);

/* Every entry of a directory except dotfiles, in byte order, so loads are reproducible. */
static void load_dir(struct walk *w, const char *path, unsigned depth)
{
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *dir = opendir(path);
	if (!dir) {
		path_report(w, DIAG_ERROR, path, "cannot open directory: %s", fixgw_strerror(-errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **n = realloc(names, ncap * sizeof(*n));
			if (!n)
				goto oom;
			names = n;
			cap = ncap;
		}
		if (asprintf(&names[count], "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
		             de->d_name) < 0)
			goto oom;
		count++;
	}
	closedir(dir);
	dir = NULL;
	qsort(names, count, sizeof(*names), cmp_str);
	for (size_t i = 0; i < count && !w->err; i++)
		load_path(w, names[i], depth + 1, false);
	goto out;
oom:
	w->err = FIXGW_ENOMEM;
out:
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Remember a directory; false when it was read before (through a symlink, or named twice). A linear
 * scan: directories are few next to the files in them. */
static bool first_visit(struct walk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].dev == st->st_dev && w->dirs[i].ino == st->st_ino)
			return false;
	if (w->ndirs == w->dirs_cap) {
		size_t cap = w->dirs_cap ? w->dirs_cap * 2 : 16;
		struct dir_id *d = realloc(w->dirs, cap * sizeof(*d));
		if (!d) {
			w->err = FIXGW_ENOMEM;
			return false;
		}
		w->dirs = d;
		w->dirs_cap = cap;
	}
	w->dirs[w->ndirs++] = (struct dir_id){st->st_dev, st->st_ino};
	return true;
}

/* named: the caller gave this path, so it loads whatever its extension. */
static void load_path(struct walk *w, const char *path, unsigned depth, bool named)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		path_report(w, DIAG_ERROR, path, "cannot open: %s", fixgw_strerror(-errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (depth > MANIFEST_MAX_DIR_DEPTH)
			path_report(w, DIAG_ERROR, path,
			            "directory nested more than %d levels deep is skipped",
			            MANIFEST_MAX_DIR_DEPTH);
		else if (first_visit(w, &st))
			load_dir(w, path, depth);
		else if (!w->err)
			path_report(w, DIAG_WARNING, path,
			            "directory already read through another path; skipped");
	} else if (named || (S_ISREG(st.st_mode) && has_manifest_ext(path))) {
		load_file(w, path, &st);
	}
}

int manifest_paths_load(const char *const *paths, size_t npaths, struct route_set *out, struct diag_list *dl)
{
	struct walk w = {.dl = dl};
	size_t errors_before = dl->nerrors;
	if (manifest_loader_new(out, dl, &w.ld) != 0)
		return FIXGW_ENOMEM;
	for (size_t i = 0; i < npaths && !w.err; i++)
		load_path(&w, paths[i], 0, true);
	manifest_loader_free(w.ld);
	free(w.dirs);
	if (w.err)
		return w.err;
	return dl->nerrors != errors_before ? FIXGW_EINVAL : 0;
}
