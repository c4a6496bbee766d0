/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* crosvm_build_argv() against golden command lines, element by element; every flag it emits is
 * also checked against crosvm's documented syntax: the RunCommand table in
 * tests/doubles/crosvm-flags.h (google/crosvm src/crosvm/cmdline.rs), options with a value,
 * switches without. Cuttlefish's own layout is base/cvd/cuttlefish/host/libs/vm_manager/
 * crosvm_manager.cpp and crosvm_builder.cpp. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/doubles/crosvm-flags.h"
#include "vmm/crosvm.h"
#include "common/macro.h"
#include "common/strv.h"

#define S(x) ((char *) (x))
#define CROSVM "/usr/bin/crosvm"
#define SOCK "/run/cuttlefish-host-resources/instances/1/crosvm_control.sock"
#define SERIAL "--serial=hardware=serial,num=1,type=stdout,console=true,earlycon=true"
#define HVC "--serial=hardware=virtio-console,num=1,type=stdout"
#define NET(fd, mac) "--net=tap-fd=" #fd ",mac=" mac

/* Global flags before "run" (CrosvmCmdlineArgs), then RunCommand's. */
static void assert_documented(char **argv) {
        bool in_run = false;

        for (char **a = argv + 1; *a; a++) {
                const char *name, *eq;
                size_t len;
                bool found = false;

                if (!in_run) {
                        if (streq(*a, "run")) {
                                in_run = true;
                                continue;
                        }
                        assert(streq(*a, "--extended-status") || streq(*a, "--no-syslog"));
                        continue;
                }
                if (strncmp(*a, "--", 2) != 0)
                        continue; /* KERNEL, the positional */
                name = *a + 2;
                eq = strchr(name, '=');
                len = eq ? (size_t) (eq - name) : strlen(name);
                for (size_t i = 0; i < ELEMENTSOF(run_flags); i++)
                        if (strlen(run_flags[i].name) == len && strncmp(run_flags[i].name, name, len) == 0) {
                                /* Every option is written --name=value; switches stand alone. */
                                assert(run_flags[i].kind == FLAG_OPTION ? !!eq : !eq);
                                found = true;
                        }
                if (!found) {
                        fprintf(stderr, "undocumented crosvm flag: %s\n", *a);
                        assert(false);
                }
        }
        assert(in_run);
}

static void check(const InstanceSpec *spec, const CrosvmPlan *plan, const char *const *expected) {
        _cleanup_(strv_freep) char **got = NULL;
        size_t i;

        assert(crosvm_build_argv(spec, plan, &got) == 0);
        for (i = 0; got[i] && expected[i]; i++)
                if (!streq(got[i], expected[i]))
                        break;
        if (got[i] || expected[i]) {
                fprintf(stderr,
                        "argv differs at [%zu]: expected \"%s\", got \"%s\"\n",
                        i,
                        strempty(expected[i]),
                        strempty(got[i]));
                STRV_FOREACH (a, got)
                        fprintf(stderr, " '%s'", *a);
                fprintf(stderr, "\n");
                assert(false);
        }
        assert_documented(got);
}

static const CrosvmPlan plan_3nics = {
        .crosvm = CROSVM,
        .socket_fd = 9,
        .n_nics = 3,
        .macs = { "00:1a:11:e1:cf:00", "00:1a:11:e2:cf:00", "00:1a:11:e0:cf:00" },
        .vsock_cid = 3,
};

static void test_minimal(void) {
        InstanceSpec spec;
        CrosvmPlan plan = { .crosvm = CROSVM, .socket_fd = 9 };
        /* clang-format off */
        static const char *const expected[] = {
                CROSVM, "--extended-status", "--no-syslog", "run", "--socket=/proc/self/fd/9",
                "--mem=1024", "--cpus=2", SERIAL, HVC, "/boot/vmlinuz", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.kernel = S("/boot/vmlinuz");
        check(&spec, &plan, expected);
}

static void test_disks_kernel_initrd_cmdline(void) {
        char *disks[] = { S("/home/u/img/system.img"), S("/home/u/img/data.img"), NULL };
        char *extra[] = { S("--no-balloon"), NULL };
        InstanceSpec spec;
        /* clang-format off */
        static const char *const expected[] = {
                CROSVM, "--extended-status", "--no-syslog", "run", "--socket=/proc/self/fd/9",
                "--mem=4096", "--cpus=4",
                "--block=path=/home/u/img/system.img", "--block=path=/home/u/img/data.img",
                NET(3, "00:1a:11:e1:cf:00"), NET(4, "00:1a:11:e2:cf:00"), NET(5, "00:1a:11:e0:cf:00"),
                "--vsock=cid=3", SERIAL, HVC,
                "--initrd=/home/u/img/initrd.img", "--params=console=hvc0 androidboot.hardware=cutf_cvm",
                "--no-balloon", "/home/u/img/kernel", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.cpus = 4;
        spec.memory_mb = 4096;
        spec.kernel = S("/home/u/img/kernel");
        spec.initrd = S("/home/u/img/initrd.img");
        spec.cmdline = S("console=hvc0 androidboot.hardware=cutf_cvm");
        spec.disks = disks;
        spec.extra_args = extra;
        check(&spec, &plan_3nics, expected);
}

/* --bios comes last, as crosvm_manager.cpp has it. */
static void test_bios(void) {
        char *disks[] = { S("/home/u/img/os_composite.img"), NULL };
        InstanceSpec spec;
        /* clang-format off */
        static const char *const expected[] = {
                CROSVM, "--extended-status", "--no-syslog", "run", "--socket=/proc/self/fd/9",
                "--mem=2048", "--cpus=2", "--block=path=/home/u/img/os_composite.img",
                NET(3, "00:1a:11:e1:cf:00"), NET(4, "00:1a:11:e2:cf:00"), NET(5, "00:1a:11:e0:cf:00"),
                "--vsock=cid=3", SERIAL, HVC, "--bios=/home/u/img/bootloader", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.memory_mb = 2048;
        spec.disks = disks;
        spec.bios = S("/home/u/img/bootloader");
        check(&spec, &plan_3nics, expected);
}

static void test_disable_sandbox_and_vhost_vsock_fd(void) {
        InstanceSpec spec;
        CrosvmPlan plan = plan_3nics;
        /* clang-format off */
        static const char *const expected[] = {
                CROSVM, "--extended-status", "--no-syslog", "run", "--socket=/proc/self/fd/9",
                "--mem=1024", "--cpus=2", "--disable-sandbox",
                NET(3, "00:1a:11:e1:cf:00"), NET(4, "00:1a:11:e2:cf:00"), NET(5, "00:1a:11:e0:cf:00"),
                "--cid=12", "--vhost-vsock-fd=6", SERIAL, HVC, "/boot/vmlinuz", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.kernel = S("/boot/vmlinuz");
        spec.crosvm_disable_sandbox = true;
        plan.vsock_cid = 12;
        plan.vhost_vsock_fd = 6;
        check(&spec, &plan, expected);
}

static void test_gpu_modes(void) {
        static const struct {
                const char *mode, *arg;
        } table[] = {
                { "guest_swiftshader", "--gpu=backend=2D" },
                { "drm_virgl",
                  "--gpu=backend=virglrenderer,context-types=virgl2,egl=true,surfaceless=true,glx=false,gles=true" },
                { "gfxstream",
                  "--gpu=context-types=gfxstream-gles:gfxstream-vulkan:gfxstream-composer,egl=true,"
                  "surfaceless=true,glx=false,gles=true" },
                { "none", NULL },
                { "auto", NULL },
        };
        CrosvmPlan plan = { .crosvm = CROSVM, .socket_fd = 9 };

        for (size_t k = 0; k < ELEMENTSOF(table); k++) {
                const char *expected[] = {
                        CROSVM,
                        "--extended-status",
                        "--no-syslog",
                        "run",
                        "--socket=/proc/self/fd/9",
                        "--mem=1024",
                        "--cpus=2",
                        SERIAL,
                        HVC,
                        table[k].arg ?: "/boot/vmlinuz",
                        table[k].arg ? "/boot/vmlinuz" : NULL,
                        NULL,
                };
                InstanceSpec spec;

                instance_spec_init(&spec, BACKEND_CROSVM);
                spec.kernel = S("/boot/vmlinuz");
                spec.gpu_mode = S(table[k].mode);
                check(&spec, &plan, expected);
        }
}

/* What the topology helper hands over lands right after --cpus. */
static void test_cpu_topology(void) {
        static const char *const cpu_args[] = {
                "--cpu-cluster=0,1", "--cpu-cluster=2,3", "--cpu-capacity=0=512,1=512,2=1024,3=1024", NULL
        };
        CrosvmPlan plan = { .crosvm = CROSVM, .socket_fd = 9, .cpu_args = cpu_args };
        InstanceSpec spec;
        /* clang-format off */
        static const char *const expected[] = {
                CROSVM, "--extended-status", "--no-syslog", "run", "--socket=/proc/self/fd/9", "--mem=1024", "--cpus=4",
                "--cpu-cluster=0,1", "--cpu-cluster=2,3", "--cpu-capacity=0=512,1=512,2=1024,3=1024",
                SERIAL, HVC, "/boot/vmlinuz", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.cpus = 4;
        spec.kernel = S("/boot/vmlinuz");
        check(&spec, &plan, expected);
}

static void test_invalid(void) {
        char *bad_disks[] = { S("/home/u/a,b.img"), NULL };
        CrosvmPlan plan = plan_3nics;
        InstanceSpec spec;
        char **argv = (char **) 0x1;

        instance_spec_init(&spec, BACKEND_CROSVM);
        spec.disks = bad_disks; /* a comma would split crosvm's key=value list */
        assert(crosvm_build_argv(&spec, &plan, &argv) == -EINVAL);
        assert(argv == (char **) 0x1);

        instance_spec_init(&spec, BACKEND_CROSVM);
        plan.macs[1] = "00:1a:11:e2:cf:00,vhost-net";
        assert(crosvm_build_argv(&spec, &plan, &argv) == -EINVAL);
        plan = plan_3nics;
        plan.vhost_vsock_fd = 6;
        plan.vsock_cid = 2; /* the host's CID */
        assert(crosvm_build_argv(&spec, &plan, &argv) == -EINVAL);
        plan = plan_3nics;
        plan.socket_fd = 2; /* not one handed over */
        assert(crosvm_build_argv(&spec, &plan, &argv) == -EINVAL);
}

static void test_control(void) {
        _cleanup_(strv_freep) char **argv = NULL;

        assert(crosvm_control_argv(CROSVM, "suspend", SOCK, &argv) == 0);
        assert(streq(argv[0], CROSVM) && streq(argv[1], "--no-syslog") && streq(argv[2], "suspend") &&
               streq(argv[3], SOCK) && !argv[4]);
        assert(crosvm_control_argv(CROSVM, "powerbtn", SOCK, &argv) == -EINVAL);
}

int main(void) {
        test_minimal();
        test_disks_kernel_initrd_cmdline();
        test_bios();
        test_disable_sandbox_and_vhost_vsock_fd();
        test_gpu_modes();
        test_cpu_topology();
        test_invalid();
        test_control();
        printf("crosvm argv: OK\n");
        return 0;
}
