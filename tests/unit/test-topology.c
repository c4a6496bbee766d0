/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CPU topology from a flattened device tree, and crosvm's arguments for it. The trees are built
 * here with libfdt's sequential-write API, shaped like an Arm big.LITTLE host's. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "vmm/topology.h"
#include "common/macro.h"
#include "common/strv.h"

#define TREE_SIZE 8192
#define PHANDLE(cpu) (0x100u + (cpu))

typedef struct TreeSpec {
        unsigned n_cpus;
        const uint32_t *capacity; /* NULL: none */
        /* cpu-map: clusters[c] lists cpus, terminated by -1; NULL: no cpu-map */
        const int *const *clusters;
        size_t n_clusters;
        bool nested;          /* socket0/cluster0/clusterN instead of clusterN */
        uint32_t bad_phandle; /* != 0: core0 of cluster0 points at it */
} TreeSpec;

static void *build_tree(const TreeSpec *s) {
        void *fdt = calloc(1, TREE_SIZE);
        char name[32];

        assert(fdt);
        assert(fdt_create(fdt, TREE_SIZE) == 0);
        assert(fdt_finish_reservemap(fdt) == 0);
        assert(fdt_begin_node(fdt, "") == 0);
        assert(fdt_property_u32(fdt, "#address-cells", 2) == 0);
        assert(fdt_property_u32(fdt, "#size-cells", 2) == 0);
        assert(fdt_begin_node(fdt, "cpus") == 0);
        assert(fdt_property_u32(fdt, "#address-cells", 1) == 0);
        assert(fdt_property_u32(fdt, "#size-cells", 0) == 0);
        for (unsigned i = 0; i < s->n_cpus; i++) {
                (void) snprintf(name, sizeof(name), "cpu@%u", i);
                assert(fdt_begin_node(fdt, name) == 0);
                assert(fdt_property_string(fdt, "device_type", "cpu") == 0);
                assert(fdt_property_string(fdt, "compatible", "arm,armv8") == 0);
                assert(fdt_property_u32(fdt, "reg", i) == 0);
                assert(fdt_property_u32(fdt, "phandle", PHANDLE(i)) == 0);
                if (s->capacity)
                        assert(fdt_property_u32(fdt, "capacity-dmips-mhz", s->capacity[i]) == 0);
                assert(fdt_end_node(fdt) == 0);
        }
        if (s->clusters) {
                assert(fdt_begin_node(fdt, "cpu-map") == 0);
                if (s->nested) {
                        assert(fdt_begin_node(fdt, "socket0") == 0);
                        assert(fdt_begin_node(fdt, "cluster0") == 0);
                }
                for (size_t c = 0; c < s->n_clusters; c++) {
                        (void) snprintf(name, sizeof(name), "cluster%zu", c);
                        assert(fdt_begin_node(fdt, name) == 0);
                        for (size_t k = 0; s->clusters[c][k] >= 0; k++) {
                                uint32_t ph = PHANDLE((unsigned) s->clusters[c][k]);

                                if (c == 0 && k == 0 && s->bad_phandle)
                                        ph = s->bad_phandle;
                                (void) snprintf(name, sizeof(name), "core%zu", k);
                                assert(fdt_begin_node(fdt, name) == 0);
                                assert(fdt_property_u32(fdt, "cpu", ph) == 0);
                                assert(fdt_end_node(fdt) == 0);
                        }
                        assert(fdt_end_node(fdt) == 0);
                }
                if (s->nested) {
                        assert(fdt_end_node(fdt) == 0);
                        assert(fdt_end_node(fdt) == 0);
                }
                assert(fdt_end_node(fdt) == 0);
        }
        assert(fdt_end_node(fdt) == 0); /* cpus */
        assert(fdt_begin_node(fdt, "memory@80000000") == 0);
        assert(fdt_property_string(fdt, "device_type", "memory") == 0);
        assert(fdt_end_node(fdt) == 0);
        assert(fdt_end_node(fdt) == 0); /* root */
        assert(fdt_finish(fdt) == 0);
        return fdt;
}

static void expect_args(const CpuTopology *t, unsigned guest_cpus, const char *const *want) {
        _cleanup_(strv_freep) char **args = NULL;
        int n = cpu_topology_crosvm_args(t, guest_cpus, &args);
        size_t k;

        assert(n >= 0);
        assert(args);
        for (k = 0; want[k]; k++) {
                if (!args[k] || !streq(args[k], want[k])) {
                        fprintf(stderr,
                                "guest_cpus=%u arg %zu: want '%s', got '%s'\n",
                                guest_cpus,
                                k,
                                want[k],
                                strempty(args[k]));
                        assert(false);
                }
        }
        assert(!args[k]);
        assert((size_t) n == k);
}

static const uint32_t big_little_capacity[] = { 512, 512, 512, 512, 1024, 1024 };
static const int little[] = { 0, 1, 2, 3, -1 };
static const int big[] = { 5, 4, -1 }; /* listed out of order: the cluster comes out sorted */
static const int *const big_little[] = { little, big };

static void test_big_little(void) {
        _cleanup_free_ void *fdt = build_tree(&(TreeSpec){ .n_cpus = 6,
                                                           .capacity = big_little_capacity,
                                                           .clusters = big_little,
                                                           .n_clusters = 2 });
        _cleanup_(cpu_topology_done) CpuTopology t = CPU_TOPOLOGY_NULL;

        assert(cpu_topology_parse(fdt, fdt_totalsize(fdt), &t) == 0);
        assert(t.n_cpus == 6);
        assert(t.n_clusters == 2);
        assert(t.clusters[0].n_cpus == 4 && t.clusters[0].cpus[0] == 0 && t.clusters[0].cpus[3] == 3);
        assert(t.clusters[1].n_cpus == 2 && t.clusters[1].cpus[0] == 4 && t.clusters[1].cpus[1] == 5);
        assert(t.capacity[0] == 512 && t.capacity[5] == 1024);

        expect_args(&t,
                    6,
                    (const char *const[]){ "--cpu-cluster=0,1,2,3",
                                           "--cpu-cluster=4,5",
                                           "--cpu-capacity=0=512,1=512,2=512,3=512,4=1024,5=1024",
                                           NULL });
        /* More host CPUs than the guest has: the rest is left out, an emptied cluster too. */
        expect_args(&t,
                    3,
                    (const char *const[]){
                                    "--cpu-cluster=0,1,2", "--cpu-capacity=0=512,1=512,2=512", NULL });
        expect_args(&t,
                    5,
                    (const char *const[]){ "--cpu-cluster=0,1,2,3",
                                           "--cpu-cluster=4",
                                           "--cpu-capacity=0=512,1=512,2=512,3=512,4=1024",
                                           NULL });
        /* More guest vCPUs than host CPUs: the host's all, nothing invented. */
        expect_args(&t,
                    8,
                    (const char *const[]){ "--cpu-cluster=0,1,2,3",
                                           "--cpu-cluster=4,5",
                                           "--cpu-capacity=0=512,1=512,2=512,3=512,4=1024,5=1024",
                                           NULL });
        expect_args(&t, 0, (const char *const[]){ NULL });
}

static void test_nested_clusters(void) {
        _cleanup_free_ void *fdt = build_tree(
                        &(TreeSpec){ .n_cpus = 6, .clusters = big_little, .n_clusters = 2, .nested = true });
        _cleanup_(cpu_topology_done) CpuTopology t = CPU_TOPOLOGY_NULL;

        assert(cpu_topology_parse(fdt, fdt_totalsize(fdt), &t) == 0);
        assert(t.n_clusters == 2);
        /* No capacities in this tree: clusters only. */
        expect_args(&t, 6, (const char *const[]){ "--cpu-cluster=0,1,2,3", "--cpu-cluster=4,5", NULL });
}

static void test_no_cpu_map(void) {
        _cleanup_free_ void *with_cap =
                        build_tree(&(TreeSpec){ .n_cpus = 6, .capacity = big_little_capacity });
        _cleanup_free_ void *bare = build_tree(&(TreeSpec){ .n_cpus = 2 });
        _cleanup_(cpu_topology_done) CpuTopology t = CPU_TOPOLOGY_NULL, u = CPU_TOPOLOGY_NULL;

        assert(cpu_topology_parse(with_cap, fdt_totalsize(with_cap), &t) == 0);
        assert(t.n_cpus == 6 && t.n_clusters == 0);
        expect_args(&t, 2, (const char *const[]){ "--cpu-capacity=0=512,1=512", NULL });

        assert(cpu_topology_parse(bare, fdt_totalsize(bare), &u) == 0);
        assert(u.n_cpus == 2 && u.n_clusters == 0);
        expect_args(&u, 2, (const char *const[]){ NULL });
}

static void test_malformed(void) {
        static const int dup_a[] = { 0, 1, -1 }, dup_b[] = { 1, 2, -1 };
        static const int *const dup[] = { dup_a, dup_b };
        _cleanup_free_ void *good = build_tree(&(TreeSpec){ .n_cpus = 6,
                                                            .capacity = big_little_capacity,
                                                            .clusters = big_little,
                                                            .n_clusters = 2 });
        _cleanup_free_ void *bad_ref = build_tree(&(TreeSpec){
                        .n_cpus = 6, .clusters = big_little, .n_clusters = 2, .bad_phandle = 0xdead });
        _cleanup_free_ void *twice =
                        build_tree(&(TreeSpec){ .n_cpus = 3, .clusters = dup, .n_clusters = 2 });
        _cleanup_free_ char *junk = malloc(TREE_SIZE);
        CpuTopology t = CPU_TOPOLOGY_NULL;

        assert(junk);
        for (size_t i = 0; i < TREE_SIZE; i++)
                junk[i] = (char) (i * 7 + 3);
        assert(cpu_topology_parse(junk, TREE_SIZE, &t) == -EBADMSG);
        assert(cpu_topology_parse(junk, 3, &t) == -EBADMSG);
        /* A valid tree cut short. */
        assert(cpu_topology_parse(good, fdt_totalsize(good) / 2, &t) == -EBADMSG);
        /* A valid header whose structure block is overwritten. */
        memset((char *) good + fdt_off_dt_struct(good) + 16, 0xff, 64);
        assert(cpu_topology_parse(good, fdt_totalsize(good), &t) == -EBADMSG);
        /* cpu-map pointing at no cpu, and a cpu in two clusters. */
        assert(cpu_topology_parse(bad_ref, fdt_totalsize(bad_ref), &t) == -EBADMSG);
        assert(cpu_topology_parse(twice, fdt_totalsize(twice), &t) == -EBADMSG);
        /* Nothing was handed out on failure. */
        assert(t.n_cpus == 0 && !t.capacity && !t.clusters);
}

static void test_no_cpus(void) {
        _cleanup_free_ void *fdt = calloc(1, 1024);
        CpuTopology t = CPU_TOPOLOGY_NULL;

        assert(fdt);
        assert(fdt_create_empty_tree(fdt, 1024) == 0);
        assert(cpu_topology_parse(fdt, 1024, &t) == -ENOENT);
}

static void test_load(void) {
        _cleanup_(cpu_topology_done) CpuTopology t = CPU_TOPOLOGY_NULL;
        int r;

        assert(cpu_topology_load("/nonexistent/fdt", &t) == -ENOENT);
        /* This host: an FDT on Arm, none on x86 (nothing to pass on then). */
        r = cpu_topology_load(NULL, &t);
        printf("# %s: %s", CPU_TOPOLOGY_FDT_PATH, r < 0 ? strerror(-r) : "");
        if (r >= 0)
                printf("%zu cpus, %zu clusters", t.n_cpus, t.n_clusters);
        printf("\n");
        assert(r >= 0 || r == -ENOENT || r == -EACCES);
}

/* "--write-big-little FILE": writes the big.LITTLE tree of test_big_little() to FILE, for tests
 * that hand the daemon a device tree (CF_HOST_FDT). */
static int write_big_little(const char *path) {
        _cleanup_free_ void *fdt = build_tree(&(TreeSpec){ .n_cpus = 6,
                                                           .capacity = big_little_capacity,
                                                           .clusters = big_little,
                                                           .n_clusters = 2 });
        FILE *f = fopen(path, "we");

        if (!f || fwrite(fdt, 1, fdt_totalsize(fdt), f) != fdt_totalsize(fdt) || fclose(f) != 0) {
                perror(path);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "big_little", test_big_little }, { "nested_clusters", test_nested_clusters },
                { "no_cpu_map", test_no_cpu_map }, { "malformed", test_malformed },
                { "no_cpus", test_no_cpus },       { "load", test_load },
        };

        if (argc == 3 && strcmp(argv[1], "--write-big-little") == 0)
                return write_big_little(argv[2]);
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - topology: %s\n", i + 1, tests[i].name);
                fflush(stdout);
        }
        return EXIT_SUCCESS;
}
