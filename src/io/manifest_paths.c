/* manifest_paths.c - walk files and directories, hand each file to the core manifest loader.
 *
 * The walk first lists what to load, in order: files, and the diagnostics of paths that cannot be
 * walked. The files are then read and loaded in parallel, each by its own manifest_loader into its own
 * route_set and diag_list (one per CPU, at most IO_MAX_THREADS threads): parsing dominates a large load
 * and files are independent. Last, in the listed order, each file's diagnostics are appended and its
 * routes adopted by the one loader of the whole load, which checks namespace/name across files. The
 * result is the same set and the same diagnostics as loading the files one by one.
 */
#include "io/manifest_paths.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errors.h"
#include "core/grow.h"
#include "core/manifest.h"
#include "io/file.h"

struct dir_id {
	dev_t dev;
	ino_t ino;
};

#define IO_MAX_THREADS 8

/* One thing to load, in the order of the walk: a file, or the diagnostics of a path that could not be
 * walked (kept in dl so they keep their place among the files' own). */
struct entry {
	char *path;    /* owned; NULL for a diagnostics-only entry */
	bool reported; /* stat said: not a regular file, or too large (reported in dl) */
	struct route_set set;
	struct diag_list dl;
	int err;
};

struct walk {
	struct diag_list *dl; /* the current entry's diagnostics while walking */
	int err;              /* sticky FIXGW_ENOMEM */
	struct dir_id *dirs;  /* directories read so far: each is read once, so symlinks cannot loop */
	size_t ndirs, dirs_cap;
	struct entry *entries;
	size_t nentries, entries_cap;
	atomic_size_t next; /* the next entry a loading thread takes */
};

/* A new entry at the end of the list; NULL (and err set) when out of memory. */
static struct entry *add_entry(struct walk *w, const char *path)
{
	if (GROW_ARRAY(w->entries, w->entries_cap, w->nentries + 1, 16) != 0) {
		w->err = FIXGW_ENOMEM;
		return NULL;
	}
	struct entry *e = &w->entries[w->nentries];
	memset(e, 0, sizeof(*e));
	route_set_init(&e->set);
	diag_list_init(&e->dl);
	if (path && !(e->path = strdup(path))) {
		w->err = FIXGW_ENOMEM;
		return NULL;
	}
	w->nentries++;
	return e;
}

/* Diagnostics of the walk itself go into an entry of their own, in order. */
static struct diag_list *walk_dl(struct walk *w)
{
	if (w->nentries && !w->entries[w->nentries - 1].path)
		return &w->entries[w->nentries - 1].dl;
	struct entry *e = add_entry(w, NULL);
	return e ? &e->dl : NULL;
}

static void path_report(struct walk *w, enum diag_severity sev, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void path_report(struct walk *w, enum diag_severity sev, const char *path, const char *fmt, ...)
{
	va_list ap;
	struct diag_list *dl = w->dl ? w->dl : walk_dl(w);
	if (!dl)
		return;
	va_start(ap, fmt);
	if (diag_addv(dl, sev, path, 0, 0, NULL, fmt, ap) != 0)
		w->err = FIXGW_ENOMEM;
	va_end(ap);
}

/* The walk lists a file; what stat already says is wrong is reported in the file's own entry. */
static void list_file(struct walk *w, const char *path, const struct stat *st)
{
	struct entry *e = add_entry(w, path);
	if (!e)
		return;
	w->dl = &e->dl;
	if (!S_ISREG(st->st_mode)) { /* checked before open: opening a FIFO would block */
		path_report(w, DIAG_ERROR, path, "not a regular file or directory");
		e->reported = true;
	} else if (st->st_size > (off_t)MANIFEST_MAX_FILE_BYTES) {
		path_report(w, DIAG_ERROR, path, "file is %lld bytes; the limit is %u",
		            (long long)st->st_size, MANIFEST_MAX_FILE_BYTES);
		e->reported = true;
	}
	w->dl = NULL;
}

/* Read one listed file and load it into its entry (any thread: the entry is this thread's alone). */
static void load_entry(struct entry *e)
{
	struct manifest_loader *ld;
	char *buf;
	size_t len;
	int rc = io_read_file(e->path, MANIFEST_MAX_FILE_BYTES, &buf, &len);
	if (rc == -ENOMEM) {
		e->err = FIXGW_ENOMEM;
	} else if (rc == -EINVAL || rc == -EISDIR) {
		diag_add(&e->dl, DIAG_ERROR, e->path, 0, 0, NULL, "not a regular file or directory");
	} else if (rc == -EFBIG) {
		diag_add(&e->dl, DIAG_ERROR, e->path, 0, 0, NULL,
		         "file grew past the limit of %u bytes while being read", MANIFEST_MAX_FILE_BYTES);
	} else if (rc < 0) {
		diag_add(&e->dl, DIAG_ERROR, e->path, 0, 0, NULL, "cannot read: %s", fixgw_strerror(rc));
	} else {
		if (manifest_loader_new(&e->set, &e->dl, &ld) != 0 ||
		    manifest_loader_add(ld, e->path, buf, len) == FIXGW_ENOMEM)
			e->err = FIXGW_ENOMEM;
		manifest_loader_free(ld);
		free(buf);
	}
}

static void *load_entries(void *arg)
{
	struct walk *w = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&w->next, 1);
		if (i >= w->nentries)
			return NULL;
		if (w->entries[i].path && !w->entries[i].reported)
			load_entry(&w->entries[i]);
	}
}

/* Load the listed files on up to one thread per CPU (this one included); fewer when threads cannot be
 * started, down to this thread alone. */
static void load_all(struct walk *w)
{
	pthread_t threads[IO_MAX_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nfiles = 0, started = 0;
	for (size_t i = 0; i < w->nentries; i++)
		nfiles += w->entries[i].path != NULL;
	size_t want = ncpu > 1 ? (size_t)ncpu : 1;
	if (want > IO_MAX_THREADS)
		want = IO_MAX_THREADS;
	if (want > nfiles)
		want = nfiles ? nfiles : 1;
	atomic_store(&w->next, 0);
	while (started + 1 < want && pthread_create(&threads[started], NULL, load_entries, w) == 0)
		started++;
	load_entries(w);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
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
		if (GROW_ARRAY(names, cap, count + 1, 32) != 0)
			goto oom;
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
	if (GROW_ARRAY(w->dirs, w->dirs_cap, w->ndirs + 1, 16) != 0) {
		w->err = FIXGW_ENOMEM;
		return false;
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
		list_file(w, path, &st);
	}
}

int manifest_paths_load(const char *const *paths, size_t npaths, struct route_set *out, struct diag_list *dl)
{
	struct walk w = {0};
	struct manifest_loader *ld = NULL;
	size_t errors_before = dl->nerrors;
	for (size_t i = 0; i < npaths && !w.err; i++)
		load_path(&w, paths[i], 0, true);
	if (!w.err)
		load_all(&w);
	if (!w.err && manifest_loader_new(out, dl, &ld) != 0)
		w.err = FIXGW_ENOMEM;
	for (size_t i = 0; i < w.nentries; i++) {
		struct entry *e = &w.entries[i];
		if (!w.err && e->err)
			w.err = e->err;
		if (!w.err && diag_list_append(dl, &e->dl) != 0)
			w.err = FIXGW_ENOMEM;
		if (!w.err && manifest_loader_adopt(ld, &e->set) == FIXGW_ENOMEM)
			w.err = FIXGW_ENOMEM;
		route_set_free(&e->set);
		diag_list_free(&e->dl);
		free(e->path);
	}
	manifest_loader_free(ld);
	free(w.entries);
	free(w.dirs);
	if (w.err)
		return w.err;
	return dl->nerrors != errors_before ? FIXGW_EINVAL : 0;
}
