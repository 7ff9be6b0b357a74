/* placement.c - CPU order for pinned workers: allowed CPUs, grouped by NUMA node. */
#include "gateway/placement.h"

#include <dirent.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(struct placement *p, const cpu_set_t *allowed, bool *taken, int cpu, int node)
{
	if (cpu < 0 || cpu >= CPU_SETSIZE || cpu >= PLACEMENT_MAX_CPUS || taken[cpu] ||
	    !CPU_ISSET(cpu, allowed))
		return;
	taken[cpu] = true;
	p->cpu[p->count] = cpu;
	p->node[p->count] = node;
	p->count++;
}

/* A sysfs cpulist such as "0-3,8-11". */
static void add_cpulist(struct placement *p, const cpu_set_t *allowed, bool *taken, const char *list,
                        int node)
{
	const char *s = list;
	while (*s) {
		char *end;
		long lo = strtol(s, &end, 10), hi = lo;
		if (end == s)
			return;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		for (long c = lo; c <= hi && c < PLACEMENT_MAX_CPUS; c++)
			add(p, allowed, taken, (int)c, node);
		s = *end == ',' ? end + 1 : end;
		if (*s == '\n')
			break;
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

size_t placement_discover(struct placement *p, const char *sysfs_root)
{
	cpu_set_t allowed;
	bool taken[PLACEMENT_MAX_CPUS] = {false};
	memset(p, 0, sizeof(*p));
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return 0;

	char path[512];
	snprintf(path, sizeof(path), "%s/devices/system/node", sysfs_root);
	DIR *d = opendir(path);
	int nodes[256];
	size_t nnodes = 0;
	for (struct dirent *e; d && (e = readdir(d)) && nnodes < 256;)
		if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9')
			nodes[nnodes++] = atoi(e->d_name + 4);
	if (d)
		closedir(d);
	qsort(nodes, nnodes, sizeof(int), cmp_int);
	for (size_t i = 0; i < nnodes; i++) {
		char list[4096];
		snprintf(path, sizeof(path), "%s/devices/system/node/node%d/cpulist", sysfs_root, nodes[i]);
		FILE *f = fopen(path, "r");
		if (f && fgets(list, sizeof(list), f))
			add_cpulist(p, &allowed, taken, list, nodes[i]);
		if (f)
			fclose(f);
	}
	/* CPUs the node files did not mention (no NUMA information at all, say). */
	for (int c = 0; c < CPU_SETSIZE && c < PLACEMENT_MAX_CPUS; c++)
		add(p, &allowed, taken, c, -1);
	return p->count;
}
