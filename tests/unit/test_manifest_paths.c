/* test_manifest_paths.c - files and directories handed to the core manifest loader (src/io). */
#include "io/manifest_paths.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "io/diag_print.h"

#define DATA FIXGW_SOURCE_DIR "/tests/unit/data/manifests"

#define HEAD   "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r1, namespace: trading}\n"
#define TARGET "  target: {service: {name: svc, port: {number: 9880}}}\n"

TEST(directory_tree_loads_in_order)
{
	struct route_set set;
	struct diag_list dl;
	const char *paths[] = {DATA "/tree"};
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load(paths, 1, &set, &dl), 0);
	CHECK_EQ_INT(dl.count, 0);
	CHECK_EQ_INT(set.count, 3);
	if (set.count == 3) {
		CHECK_EQ_STR(set.items[0].name, "a-route");
		CHECK_EQ_STR(set.items[1].name, "b-route");
		CHECK_EQ_STR(set.items[2].name, "c-route");
		CHECK_EQ_STR(set.items[2].target.port_name, "fix");
		CHECK(strstr(set.items[2].source, "/tree/sub/c.json:1") != NULL);
		CHECK(strstr(set.items[0].source, "/tree/a.yml:2") != NULL);
	}
	route_set_free(&set);
	diag_list_free(&dl);
}

TEST(paths_errors_and_files)
{
	struct route_set set;
	struct diag_list dl;
	const char *paths[] = {DATA "/does-not-exist.yaml", DATA "/broken.yaml", DATA "/tree/notes.txt",
	                       DATA "/tree/b-first.yaml"};
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load(paths, 4, &set, &dl), FIXGW_EINVAL);
	/* broken.yaml's first document and b-first.yaml; notes.txt is loaded (named): it holds no object, but
	 * claims apiVersion fixgw.io without a kind, which is an error */
	CHECK_EQ_INT(set.count, 2);
	CHECK_EQ_INT(dl.nerrors, 3);
	if (dl.count == 3) {
		CHECK(strstr(dl.items[0].file, "does-not-exist.yaml") != NULL);
		CHECK(strstr(dl.items[0].message, "No such file or directory") != NULL);
		CHECK_EQ_INT(dl.items[0].line, 0);
		CHECK(strstr(dl.items[1].file, "broken.yaml") != NULL);
		CHECK_EQ_INT(dl.items[1].line, 12);
		CHECK(strstr(dl.items[2].file, "notes.txt") != NULL);
		CHECK(strstr(dl.items[2].message, "kind is missing") != NULL);
	}
	if (set.count == 2) {
		CHECK_EQ_STR(set.items[0].name, "before-error");
		CHECK_EQ_STR(set.items[1].name, "b-route");
	}
	route_set_free(&set);
	diag_list_free(&dl);
}

TEST(symlink_loops_end)
{
	char dir[] = "/tmp/fixgw-manifest-XXXXXX", path[128];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/r.yaml", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(HEAD "spec:\n" TARGET, f);
	fclose(f);
	/* two links back to the directory itself: without the visited set, 2^16 walks */
	snprintf(path, sizeof(path), "%s/loop-a", dir);
	CHECK(symlink(dir, path) == 0);
	snprintf(path, sizeof(path), "%s/loop-b", dir);
	CHECK(symlink(dir, path) == 0);

	struct route_set set;
	struct diag_list dl;
	const char *paths[] = {dir, dir};
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load(paths, 2, &set, &dl), 0);
	CHECK_EQ_INT(set.count, 1);
	CHECK_EQ_INT(dl.nerrors, 0);
	CHECK_EQ_INT(dl.nwarnings, 3);
	CHECK(dl.count > 0 && strstr(dl.items[0].message, "already read through another path"));
	route_set_free(&set);
	diag_list_free(&dl);

	snprintf(path, sizeof(path), "%s/loop-a", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/loop-b", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/r.yaml", dir);
	unlink(path);
	rmdir(dir);
}

TEST(shipped_examples_are_valid_and_quiet)
{
	struct route_set set;
	struct diag_list dl;
	const char *paths[] = {FIXGW_SOURCE_DIR "/crds/examples"};
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load(paths, 1, &set, &dl), 0);
	CHECK_EQ_INT(dl.count, 0);
	CHECK_EQ_INT(set.count, 10);
	size_t kinds[3] = {0};
	for (size_t i = 0; i < set.count; i++) {
		kinds[route_kind_of(&set.items[i])]++;
		CHECK_EQ_STR(set.items[i].ns, "trading");
	}
	CHECK_EQ_INT(kinds[ROUTE_KIND_EXACT], 5);
	CHECK_EQ_INT(kinds[ROUTE_KIND_WILDCARD], 3);
	CHECK_EQ_INT(kinds[ROUTE_KIND_DEFAULT], 2);
	if (dl.count)
		diag_print(&dl, stderr);
	route_set_free(&set);
	diag_list_free(&dl);
}

/* Many files are loaded in parallel and merged in the walk's order: the same routes, the same
 * diagnostics in the same order as one by one, duplicates across files found. */
TEST(many_files_merge_in_order)
{
	char dir[] = "/tmp/fixgw-manifest-XXXXXX", path[160];
	enum { NFILES = 40 };
	CHECK(mkdtemp(dir) != NULL);
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/f%02d.yaml", dir, i);
		FILE *f = fopen(path, "w");
		if (!f)
			return;
		/* f07 repeats f03's name; f11 has an unknown field; the others are fine */
		fprintf(
		    f,
		    "apiVersion: fixgw.io/v1alpha1\nkind: FIXSession\nmetadata: {name: r%d, namespace: ns}\n"
		    "spec:\n  target: {service: {name: svc, port: {number: 1}}}\n%s",
		    i == 7 ? 3 : i, i == 11 ? "  bogus: 1\n" : "");
		fclose(f);
	}
	struct route_set set;
	struct diag_list dl;
	const char *paths[] = {dir};
	route_set_init(&set);
	diag_list_init(&dl);
	CHECK_EQ_INT(manifest_paths_load(paths, 1, &set, &dl), FIXGW_EINVAL);
	CHECK_EQ_INT(set.count, NFILES - 2);
	CHECK_EQ_INT(dl.nerrors, 2);
	if (dl.count == 2) {
		CHECK(strstr(dl.items[0].file, "/f07.yaml") && dl.items[0].line == 1);
		CHECK(strstr(dl.items[0].message, "ns/r3 is also defined at") &&
		      strstr(dl.items[0].message, "/f03.yaml:1"));
		CHECK(strstr(dl.items[1].file, "/f11.yaml") &&
		      strstr(dl.items[1].message, "unknown field \"bogus\""));
	}
	for (size_t i = 1; i < set.count; i++)
		CHECK(strcmp(set.items[i - 1].source, set.items[i].source) < 0); /* the walk's order */
	route_set_free(&set);
	diag_list_free(&dl);
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/f%02d.yaml", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(directory_tree_loads_in_order), TEST_ENTRY(paths_errors_and_files),
          TEST_ENTRY(symlink_loops_end), TEST_ENTRY(shipped_examples_are_valid_and_quiet),
          TEST_ENTRY(many_files_merge_in_order))
