/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host's CPU topology from its flattened device tree (Arm hosts: /sys/firmware/fdt), to give
 * a crosvm guest the same big.LITTLE clusters and capacities: /cpus/cpu-map's clusters
 * (clusterN/coreN[/threadN] with cpu = <&phandle>) and each cpu node's capacity-dmips-mhz.
 * CPU index i is the i-th cpu node under /cpus, which is how Linux numbers them; the crosvm
 * backend maps guest vCPU i to host CPU i (as Cuttlefish's host_cpu_topology does). */

#include <stddef.h>
#include <stdint.h>

#define CPU_TOPOLOGY_FDT_PATH "/sys/firmware/fdt"
#define CPU_TOPOLOGY_CPUS_MAX 1024

typedef struct CpuCluster {
        unsigned *cpus; /* CPU indices, ascending */
        size_t n_cpus;
} CpuCluster;

typedef struct CpuTopology {
        size_t n_cpus;
        uint32_t *capacity; /* n_cpus entries; 0: the cpu node has no capacity-dmips-mhz */
        CpuCluster *clusters;
        size_t n_clusters; /* 0: no /cpus/cpu-map */
} CpuTopology;

#define CPU_TOPOLOGY_NULL ((CpuTopology){})

void cpu_topology_done(CpuTopology *t);

/* Parses a flattened device tree of size bytes. -EBADMSG: not a valid tree, or a cpu-map that
 * points at no cpu or puts one cpu in two clusters; -ENOENT: no /cpus node. */
int cpu_topology_parse(const void *fdt, size_t size, CpuTopology *ret);
/* Reads and parses path (NULL: CPU_TOPOLOGY_FDT_PATH). -ENOENT when the host has no FDT (x86,
 * ACPI-only Arm): then there is nothing to pass on. */
int cpu_topology_load(const char *path, CpuTopology *ret);

/* crosvm's arguments for a guest with guest_cpus vCPUs: one "--cpu-cluster=0,1,2,3" per cluster
 * and one "--cpu-capacity=0=512,1=512,2=1024", leaving out host CPUs >= guest_cpus (and clusters
 * left empty by that). Returns the number of arguments (0 for a tree without topology);
 * *ret_args is a NULL-terminated strv, also when empty. */
int cpu_topology_crosvm_args(const CpuTopology *t, unsigned guest_cpus, char ***ret_args);
