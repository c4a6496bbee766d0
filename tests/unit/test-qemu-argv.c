/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qemu_build_argv() against golden command lines, element by element; qemu_find()'s lookup. */
#undef NDEBUG
#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vmm/qemu.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"

/* The spec owns its strings; these tests lend it literals and never call instance_spec_done(). */
#define S(x) ((char *) (x))

#define QEMU "/usr/bin/qemu-system-x86_64"
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

static void assert_argv(char **got, const char *const *expected) {
        size_t i;

        for (i = 0; got[i] && expected[i]; i++)
                if (!streq(got[i], expected[i]))
                        break;
        if (got[i] || expected[i]) {
                fprintf(stderr,
                        "argv differs at [%zu]: expected \"%s\", got \"%s\"\n",
                        i,
                        strempty(expected[i]),
                        strempty(got[i]));
                fprintf(stderr, "got:");
                STRV_FOREACH (a, got)
                        fprintf(stderr, " '%s'", *a);
                fprintf(stderr, "\n");
                assert(false);
        }

        STRV_FOREACH (a, got)
                assert(!strstr(*a, "vhost"));
}

static void check(const InstanceSpec *spec, const QemuPlan *plan, const char *const *expected) {
        _cleanup_(strv_freep) char **argv = NULL;

        assert(qemu_build_argv(spec, plan, &argv) == 0);
        assert_argv(argv, expected);
}

static void check_einval(const InstanceSpec *spec, const QemuPlan *plan) {
        char **argv = (char **) 0x1;

        assert(qemu_build_argv(spec, plan, &argv) == -EINVAL);
        assert(argv == (char **) 0x1); /* untouched on failure */
}

static void test_minimal_tcg(void) {
        InstanceSpec spec;
        QemuPlan plan = {
                .qemu = QEMU,
                .qmp_fd = 9,
        };
        /* clang-format off */
        static const char *const expected[] = {
                QEMU, "-nodefaults", "-no-user-config", "-display", "none",
                "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
                "-chardev", "socket,id=qmp,fd=9,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
                "-serial", "stdio", "-sandbox", SANDBOX,
                NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_QEMU);
        check(&spec, &plan, expected);
}

static void test_kvm_full(void) {
        char *disks[] = { S("/home/u/images/system,a.img"), S("/home/u/images/data.img"), NULL };
        char *extra[] = { S("-device"), S("virtio-rng-pci"), S("-rtc"), S("base=utc"), NULL };
        InstanceSpec spec;
        QemuPlan plan = {
                .qemu = QEMU,
                .kvm = true,
                .n_nics = 1,
                .macs = { "00:1a:11:e1:cf:02" },
                .qmp_fd = 9,
                .paused = true,
        };
        /* clang-format off */
        static const char *const expected[] = {
                QEMU, "-nodefaults", "-no-user-config", "-display", "none",
                "-accel", "kvm", "-cpu", "host", "-m", "4096", "-smp", "8",
                "-kernel", "/home/u/images/bzImage",
                "-initrd", "/home/u/images/initrd.img",
                "-append", "console=ttyS0 root=/dev/vda rw quiet",
                "-drive", "file=/home/u/images/system,,a.img,if=virtio,format=raw",
                "-drive", "file=/home/u/images/data.img,if=virtio,format=raw",
                "-netdev", "tap,id=net0,fd=3",
                "-device", "virtio-net-pci,netdev=net0,mac=00:1a:11:e1:cf:02",
                "-chardev", "socket,id=qmp,fd=9,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
                "-serial", "stdio", "-sandbox", SANDBOX, "-S",
                "-device", "virtio-rng-pci", "-rtc", "base=utc",
                NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_QEMU);
        spec.cpus = 8;
        spec.memory_mb = 4096;
        spec.kernel = S("/home/u/images/bzImage");
        spec.initrd = S("/home/u/images/initrd.img");
        spec.cmdline = S("console=ttyS0 root=/dev/vda rw quiet");
        spec.disks = disks;
        spec.extra_args = extra;
        check(&spec, &plan, expected);
}

static void test_three_nics_kernel_only(void) {
        InstanceSpec spec;
        QemuPlan plan = {
                .qemu = "qemu-system-aarch64",
                .n_nics = 3,
                .macs = { "00:1a:11:e1:cf:05", "00:1a:11:e1:c0:05", "00:1a:11:E1:C5:05" },
                .qmp_fd = 9,
        };
        /* clang-format off */
        static const char *const expected[] = {
                "qemu-system-aarch64", "-nodefaults", "-no-user-config", "-display", "none",
                "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1",
                "-kernel", "/k,ernel", /* taken whole by QEMU: not escaped */
                "-append", "a=b,c console=ttyS0",
                "-netdev", "tap,id=net0,fd=3",
                "-device", "virtio-net-pci,netdev=net0,mac=00:1a:11:e1:cf:05",
                "-netdev", "tap,id=net1,fd=4",
                "-device", "virtio-net-pci,netdev=net1,mac=00:1a:11:e1:c0:05",
                "-netdev", "tap,id=net2,fd=5",
                "-device", "virtio-net-pci,netdev=net2,mac=00:1a:11:E1:C5:05",
                "-chardev", "socket,id=qmp,fd=9,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
                "-serial", "stdio", "-sandbox", SANDBOX,
                NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_QEMU);
        spec.cpus = 1;
        spec.memory_mb = 256;
        spec.kernel = S("/k,ernel");
        spec.cmdline = S("a=b,c console=ttyS0");
        check(&spec, &plan, expected);
}

static void test_initrd_without_kernel_and_extra_last(void) {
        char *extra[] = { S("-S"), S("-name"), S("x,y"), NULL };
        char *disks[] = { S("/,"), NULL };
        InstanceSpec spec;
        QemuPlan plan = {
                .qemu = QEMU,
                .kvm = true,
                .n_nics = 4,
                .macs = { "00:00:00:00:00:01",
                          "00:00:00:00:00:02",
                          "00:00:00:00:00:03",
                          "00:00:00:00:00:04" },
                .qmp_fd = 9,
        };
        /* clang-format off */
        static const char *const expected[] = {
                QEMU, "-nodefaults", "-no-user-config", "-display", "none",
                "-accel", "kvm", "-cpu", "host", "-m", "1024", "-smp", "2",
                "-initrd", "/i",
                "-drive", "file=/,,,if=virtio,format=raw",
                "-netdev", "tap,id=net0,fd=3", "-device", "virtio-net-pci,netdev=net0,mac=00:00:00:00:00:01",
                "-netdev", "tap,id=net1,fd=4", "-device", "virtio-net-pci,netdev=net1,mac=00:00:00:00:00:02",
                "-netdev", "tap,id=net2,fd=5", "-device", "virtio-net-pci,netdev=net2,mac=00:00:00:00:00:03",
                "-netdev", "tap,id=net3,fd=6", "-device", "virtio-net-pci,netdev=net3,mac=00:00:00:00:00:04",
                "-chardev", "socket,id=qmp,fd=9,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
                "-serial", "stdio", "-sandbox", SANDBOX,
                "-S", "-name", "x,y", /* verbatim, after everything of ours */
                NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_QEMU);
        spec.initrd = S("/i");
        spec.disks = disks;
        spec.extra_args = extra;
        check(&spec, &plan, expected);
}

static void test_einval(void) {
        char *relative[] = { S("disk.img"), NULL };
        char *empty[] = { S(""), NULL };
        InstanceSpec spec;
        QemuPlan plan = {
                .qemu = QEMU,
                .n_nics = 1,
                .macs = { "00:1a:11:e1:cf:02" },
                .qmp_fd = 9,
        };
        QemuPlan p;

        instance_spec_init(&spec, BACKEND_QEMU);

        p = plan;
        p.qemu = NULL;
        check_einval(&spec, &p);
        p.qemu = "";
        check_einval(&spec, &p);

        p = plan;
        p.n_nics = 5;
        check_einval(&spec, &p);
        p.n_nics = UINT32_MAX;
        check_einval(&spec, &p);

        p = plan;
        p.n_nics = 2; /* macs[1] missing */
        check_einval(&spec, &p);

        static const char *const bad_macs[] = {
                "00:1a:11:e1:cf", "00:1a:11:e1:cf:0g", "00-1a-11-e1-cf-02", "00:1a:11:e1:cf:02,vhost=on", "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_macs); i++) {
                p = plan;
                p.macs[0] = bad_macs[i];
                check_einval(&spec, &p);
        }

        p = plan;
        p.qmp_fd = 0;
        check_einval(&spec, &p);
        p.qmp_fd = 2;
        check_einval(&spec, &p);

        spec.disks = relative;
        check_einval(&spec, &plan);
        spec.disks = empty;
        check_einval(&spec, &plan);
        spec.disks = NULL;

        spec.kernel = S("bzImage");
        check_einval(&spec, &plan);
        spec.kernel = NULL;
        spec.initrd = S("");
        check_einval(&spec, &plan);
        spec.initrd = NULL;

        spec.cpus = 0;
        check_einval(&spec, &plan);
        spec.cpus = 2;
        spec.memory_mb = 0;
        check_einval(&spec, &plan);
        spec.memory_mb = 1024;

        assert(qemu_build_argv(NULL, &plan, &(char **){ NULL }) == -EINVAL);
        assert(qemu_build_argv(&spec, NULL, &(char **){ NULL }) == -EINVAL);

        /* And the plan that was varied above is itself fine. */
        _cleanup_(strv_freep) char **argv = NULL;
        assert(qemu_build_argv(&spec, &plan, &argv) == 0);
}

static void make_file(const char *path, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

        assert(fd >= 0);
        assert(write(fd, "#!/bin/sh\n", 10) == 10);
        assert(close(fd) == 0);
        assert(chmod(path, mode) == 0);
}

static void test_find(void) {
        char dir[] = "/tmp/test-qemu-argv-XXXXXX";
        _cleanup_free_ char *saved_path = NULL, *name = NULL, *fake = NULL, *plain = NULL, *path = NULL;
        const char *e;
        struct utsname u;
        char *found;

        e = getenv("PATH");
        saved_path = e ? strdup(e) : NULL;
        assert(mkdtemp(dir));

        assert(uname(&u) == 0);
        if (streq(u.machine, "x86_64") || streq(u.machine, "aarch64")) {
                assert(asprintf(&name, "qemu-system-%s", u.machine) >= 0);
                fake = path_join(dir, name);
                assert(fake);
                make_file(fake, 0755);

                /* Without $CF_QEMU: $PATH's first hit; relative entries are skipped. */
                assert(unsetenv("CF_QEMU") == 0);
                assert(asprintf(&path, ".:relative:%s:/nonexistent", dir) >= 0);
                assert(setenv("PATH", path, 1) == 0);
                assert(qemu_find(&found) == 0);
                assert(streq(found, fake));
                free(found);
        }

        /* $CF_QEMU wins, and must be an executable file. */
        assert(setenv("CF_QEMU", "/bin/sh", 1) == 0);
        assert(qemu_find(&found) == 0);
        assert(streq(found, "/bin/sh"));
        free(found);

        found = (char *) 0x1;
        assert(setenv("CF_QEMU", "/nonexistent/qemu", 1) == 0);
        assert(qemu_find(&found) == -ENOENT);
        assert(found == (char *) 0x1);

        plain = path_join(dir, "not-executable");
        assert(plain);
        make_file(plain, 0644);
        assert(setenv("CF_QEMU", plain, 1) == 0);
        assert(qemu_find(&found) == -ENOENT);

        assert(setenv("CF_QEMU", dir, 1) == 0); /* a directory */
        assert(qemu_find(&found) == -ENOENT);

        /* Nothing anywhere: -ENOENT. */
        assert(setenv("CF_QEMU", "qemu-system-does-not-exist", 1) == 0);
        assert(setenv("PATH", dir, 1) == 0);
        assert(qemu_find(&found) == -ENOENT);
        assert(found == (char *) 0x1);

        assert(unsetenv("CF_QEMU") == 0);
        if (saved_path)
                assert(setenv("PATH", saved_path, 1) == 0);
        if (fake)
                assert(unlink(fake) == 0);
        assert(unlink(plain) == 0);
        assert(rmdir(dir) == 0);
}

int main(void) {
        test_minimal_tcg();
        test_kvm_full();
        test_three_nics_kernel_only();
        test_initrd_without_kernel_and_extra_last();
        test_einval();
        test_find();
        return EXIT_SUCCESS;
}
