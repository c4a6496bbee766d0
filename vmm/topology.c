/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* crosvm's syntax, from its src/crosvm/cmdline.rs (RunCommand): "--cpu-cluster CPUSET" ("group the
 * given CPUs into a cluster", repeatable; CPUSET is a comma-separated list of CPUs or ranges) and
 * "--cpu-capacity CPU=CAP[,CPU=CAP[,...]]" ("set the relative capacity of the given CPU"). crosvm
 * writes the capacities into the guest's tree as capacity-dmips-mhz, so the host's values pass
 * through unchanged. Cuttlefish's own launcher emits the same two options
 * (base/cvd/cuttlefish/host/libs/vm_manager/crosvm_cpu.cpp). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "vmm/topology.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

void cpu_topology_done(CpuTopology *t) {
        for (size_t i = 0; i < t->n_clusters; i++)
                free(t->clusters[i].cpus);
        free(t->clusters);
        free(t->capacity);
        *t = CPU_TOPOLOGY_NULL;
}

static bool node_is_cpu(const void *fdt, int node) {
        const char *name = fdt_get_name(fdt, node, NULL);
        const char *type = fdt_getprop(fdt, node, "device_type", NULL);

        if (type)
                return streq(type, "cpu");
        return name && strncmp(name, "cpu@", 4) == 0;
}

static bool name_has_prefix(const void *fdt, int node, const char *prefix) {
        const char *name = fdt_get_name(fdt, node, NULL);

        return name && strncmp(name, prefix, strlen(prefix)) == 0;
}

typedef struct Parse {
        const void *fdt;
        int *cpu_offsets; /* node offset of cpu i */
        size_t n_cpus;
        int *cluster_of; /* cluster index of cpu i, or -1 */
        CpuTopology *t;
} Parse;

static int cpu_index_by_phandle(const Parse *p, uint32_t phandle) {
        for (size_t i = 0; i < p->n_cpus; i++)
                if (fdt_get_phandle(p->fdt, p->cpu_offsets[i]) == phandle)
                        return (int) i;
        return -1;
}

/* Adds the cpu that a coreN or threadN node points at to cluster c. */
static int add_cpu_ref(Parse *p, int node, size_t c) {
        const fdt32_t *v;
        int len, idx;
        CpuCluster *cl = &p->t->clusters[c];
        unsigned *l;

        v = fdt_getprop(p->fdt, node, "cpu", &len);
        if (!v)
                return 0; /* a core with threads carries no cpu itself */
        if (len != 4)
                return -EBADMSG;
        idx = cpu_index_by_phandle(p, fdt32_to_cpu(*v));
        if (idx < 0)
                return -EBADMSG;
        if (p->cluster_of[idx] >= 0)
                return p->cluster_of[idx] == (int) c ? 0 : -EBADMSG;
        l = reallocarray(cl->cpus, cl->n_cpus + 1, sizeof(unsigned));
        if (!l)
                return -ENOMEM;
        cl->cpus = l;
        /* Keep it sorted: cores may be listed in any order. */
        size_t k = cl->n_cpus;
        while (k > 0 && cl->cpus[k - 1] > (unsigned) idx) {
                cl->cpus[k] = cl->cpus[k - 1];
                k--;
        }
        cl->cpus[k] = (unsigned) idx;
        cl->n_cpus++;
        p->cluster_of[idx] = (int) c;
        return 0;
}

/* A node under cpu-map: socketN and clusterN nest; the innermost cluster with coreN children is
 * what the guest gets as one cluster. */
static int walk_map(Parse *p, int node, int depth) {
        bool has_cores = false;
        int child, r;

        if (depth > 8)
                return -EBADMSG;
        fdt_for_each_subnode(child, p->fdt, node) if (name_has_prefix(p->fdt, child, "core")) has_cores =
                        true;

        if (has_cores) {
                CpuCluster *l = reallocarray(p->t->clusters, p->t->n_clusters + 1, sizeof(CpuCluster));
                size_t c;

                if (!l)
                        return -ENOMEM;
                p->t->clusters = l;
                c = p->t->n_clusters++;
                l[c] = (CpuCluster){};
                fdt_for_each_subnode(child, p->fdt, node) {
                        int thread;

                        if (!name_has_prefix(p->fdt, child, "core"))
                                continue;
                        r = add_cpu_ref(p, child, c);
                        if (r < 0)
                                return r;
                        fdt_for_each_subnode(thread, p->fdt, child) {
                                if (!name_has_prefix(p->fdt, thread, "thread"))
                                        continue;
                                r = add_cpu_ref(p, thread, c);
                                if (r < 0)
                                        return r;
                        }
                }
                /* A cluster whose cores name no cpu says nothing. */
                if (l[c].n_cpus == 0)
                        p->t->n_clusters--;
                return 0;
        }

        fdt_for_each_subnode(child, p->fdt, node) {
                if (!name_has_prefix(p->fdt, child, "cluster") && !name_has_prefix(p->fdt, child, "socket"))
                        continue;
                r = walk_map(p, child, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cpu_topology_parse(const void *fdt, size_t size, CpuTopology *ret) {
        _cleanup_free_ int *offsets = NULL, *cluster_of = NULL;
        CpuTopology t = {};
        Parse p = { .fdt = fdt, .t = &t };
        int cpus, node, map, r;

        if (size < sizeof(struct fdt_header) || fdt_check_full(fdt, size) != 0)
                return -EBADMSG;
        cpus = fdt_path_offset(fdt, "/cpus");
        if (cpus < 0)
                return cpus == -FDT_ERR_NOTFOUND ? -ENOENT : -EBADMSG;

        fdt_for_each_subnode(node, fdt, cpus) {
                int *l;

                if (!node_is_cpu(fdt, node))
                        continue;
                if (p.n_cpus >= CPU_TOPOLOGY_CPUS_MAX)
                        return -E2BIG;
                l = reallocarray(offsets, p.n_cpus + 1, sizeof(int));
                if (!l)
                        return -ENOMEM;
                offsets = l;
                offsets[p.n_cpus++] = node;
        }
        if (node < 0 && node != -FDT_ERR_NOTFOUND)
                return -EBADMSG;
        p.cpu_offsets = offsets;

        t.n_cpus = p.n_cpus;
        t.capacity = calloc(MAX(p.n_cpus, (size_t) 1), sizeof(uint32_t));
        cluster_of = malloc(MAX(p.n_cpus, (size_t) 1) * sizeof(int));
        if (!t.capacity || !cluster_of) {
                cpu_topology_done(&t);
                return -ENOMEM;
        }
        p.cluster_of = cluster_of;
        for (size_t i = 0; i < p.n_cpus; i++) {
                const fdt32_t *v;
                int len;

                cluster_of[i] = -1;
                v = fdt_getprop(fdt, offsets[i], "capacity-dmips-mhz", &len);
                if (v && len != 4) {
                        cpu_topology_done(&t);
                        return -EBADMSG;
                }
                t.capacity[i] = v ? fdt32_to_cpu(*v) : 0;
        }

        map = fdt_subnode_offset(fdt, cpus, "cpu-map");
        if (map >= 0) {
                r = walk_map(&p, map, 0);
                if (r < 0) {
                        cpu_topology_done(&t);
                        return r;
                }
        } else if (map != -FDT_ERR_NOTFOUND) {
                cpu_topology_done(&t);
                return -EBADMSG;
        }

        *ret = t;
        return 0;
}

int cpu_topology_load(const char *path, CpuTopology *ret) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path ?: CPU_TOPOLOGY_FDT_PATH, &data, &size);
        if (r < 0)
                return r;
        return cpu_topology_parse(data, size, ret);
}

static int append_uint(char **buf, size_t *len, const char *sep, unsigned a, const char *mid, unsigned b) {
        char piece[64];
        int n = mid ? snprintf(piece, sizeof(piece), "%s%u%s%u", sep, a, mid, b)
                    : snprintf(piece, sizeof(piece), "%s%u", sep, a);
        char *s = realloc(*buf, *len + (size_t) n + 1);

        if (!s)
                return -ENOMEM;
        memcpy(s + *len, piece, (size_t) n + 1);
        *buf = s;
        *len += (size_t) n;
        return 0;
}

int cpu_topology_crosvm_args(const CpuTopology *t, unsigned guest_cpus, char ***ret_args) {
        _cleanup_(strv_freep) char **args = NULL;
        _cleanup_free_ char *cap = NULL;
        size_t cap_len = 0;
        int r;

        args = calloc(1, sizeof(char *));
        if (!args)
                return -ENOMEM;

        for (size_t c = 0; c < t->n_clusters; c++) {
                _cleanup_free_ char *s = strdup("--cpu-cluster=");
                size_t len = s ? strlen(s) : 0;
                bool any = false;

                if (!s)
                        return -ENOMEM;
                for (size_t i = 0; i < t->clusters[c].n_cpus; i++) {
                        if (t->clusters[c].cpus[i] >= guest_cpus)
                                continue;
                        r = append_uint(&s, &len, any ? "," : "", t->clusters[c].cpus[i], NULL, 0);
                        if (r < 0)
                                return r;
                        any = true;
                }
                if (!any)
                        continue;
                r = strv_push(&args, TAKE_PTR(s));
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < t->n_cpus && i < guest_cpus; i++) {
                if (t->capacity[i] == 0)
                        continue;
                if (!cap) {
                        cap = strdup("--cpu-capacity=");
                        if (!cap)
                                return -ENOMEM;
                        cap_len = strlen(cap);
                }
                r = append_uint(&cap,
                                &cap_len,
                                cap_len > strlen("--cpu-capacity=") ? "," : "",
                                (unsigned) i,
                                "=",
                                t->capacity[i]);
                if (r < 0)
                        return r;
        }
        if (cap) {
                r = strv_push(&args, TAKE_PTR(cap));
                if (r < 0)
                        return r;
        }

        r = (int) strv_length(args);
        *ret_args = TAKE_PTR(args);
        return r;
}
