/* placement.h - where pinned workers go (tuning.pinWorkers): the CPUs this process may use (its
 * affinity mask, so a Kubernetes CPU-manager cpuset is respected), ordered NUMA node by node, so that
 * consecutive workers share a node and the memory they first touch stays local to it. */
#ifndef FIXGW_GATEWAY_PLACEMENT_H
#define FIXGW_GATEWAY_PLACEMENT_H

#include <stddef.h>

#define PLACEMENT_MAX_CPUS 1024

struct placement {
	int cpu[PLACEMENT_MAX_CPUS];
	int node[PLACEMENT_MAX_CPUS]; /* NUMA node of cpu[i], -1 when the machine does not say */
	size_t count;
};

/** Fill p from sched_getaffinity and /sys/devices/system/node (sysfs_root, normally "/sys"). Returns
 * the number of CPUs (0 when the affinity mask cannot be read). */
size_t placement_discover(struct placement *p, const char *sysfs_root);

#endif
