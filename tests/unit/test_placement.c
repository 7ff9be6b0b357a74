/* Unit tests for src/gateway/placement.c: allowed CPUs in NUMA-node order, from a fake sysfs. */
#include "gateway/placement.c"

#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* node0 lists CPU 1, node1 lists CPU 0: the order follows the nodes, not the CPU numbers. */
TEST(test_node_order_and_affinity)
{
	char root[] = "/tmp/fixgw-placement-XXXXXX", path[256];
	CHECK(mkdtemp(root) != NULL);
	const char *dirs[] = {"devices", "devices/system", "devices/system/node", "devices/system/node/node0",
	                      "devices/system/node/node1"};
	for (size_t i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		mkdir(path, 0700);
	}
	snprintf(path, sizeof(path), "%s/devices/system/node/node0/cpulist", root);
	write_file(path, "1\n");
	snprintf(path, sizeof(path), "%s/devices/system/node/node1/cpulist", root);
	write_file(path, "0,2-3\n");

	cpu_set_t allowed;
	sched_getaffinity(0, sizeof(allowed), &allowed);
	struct placement p;
	size_t n = placement_discover(&p, root);
	CHECK_EQ_INT(n, (size_t)CPU_COUNT(&allowed));
	if (CPU_ISSET(0, &allowed) && CPU_ISSET(1, &allowed)) {
		CHECK_EQ_INT(p.cpu[0], 1);
		CHECK_EQ_INT(p.node[0], 0);
		CHECK_EQ_INT(p.cpu[1], 0);
		CHECK_EQ_INT(p.node[1], 1);
	}
	for (size_t i = 0; i < n; i++)
		CHECK(CPU_ISSET(p.cpu[i], &allowed)); /* never a CPU outside the affinity mask */
}

/* No NUMA information: every allowed CPU, node -1. */
TEST(test_no_numa_information)
{
	struct placement p;
	cpu_set_t allowed;
	sched_getaffinity(0, sizeof(allowed), &allowed);
	CHECK_EQ_INT(placement_discover(&p, "/nonexistent"), (size_t)CPU_COUNT(&allowed));
	CHECK_EQ_INT(p.node[0], -1);
}

TEST_MAIN(TEST_ENTRY(test_node_order_and_affinity), TEST_ENTRY(test_no_numa_information))
