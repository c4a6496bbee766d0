/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The qemu backend's command line. Pure string work: no I/O except qemu_find()'s lookups. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vmm/argv.h"
#include "vmm/qemu.h"
#include "common/macro.h"
#include "common/strv.h"

#define QEMU_NICS_MAX ELEMENTSOF(((QemuPlan *) NULL)->macs)

static const char qemu_sandbox_opts[] =
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/* A value inside a QEMU option string ("a=x,b=y"): a literal comma is written twice. */
static char *qemu_opt_escape(const char *s) {
        size_t n = strlen(s), commas = 0;
        char *e, *p;

        for (const char *c = s; *c; c++)
                if (*c == ',')
                        commas++;

        e = malloc(n + commas + 1);
        if (!e)
                return NULL;
        p = e;
        for (const char *c = s; *c; c++) {
                *p++ = *c;
                if (*c == ',')
                        *p++ = ',';
        }
        *p = '\0';
        return e;
}

/* "00:1a:11:e1:cf:02": six hex pairs, nothing QEMU could read as another option. */
static int argv_add_opt_path(char ***l, const char *prefix, const char *path, const char *suffix) {
        _cleanup_free_ char *e = qemu_opt_escape(path);

        if (!e)
                return -ENOMEM;
        return argv_addf(l, "%s%s%s", prefix, e, suffix);
}

int qemu_build_argv(const InstanceSpec *spec, const QemuPlan *plan, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        char memory[16], cpus[16];
        int r;

        if (!spec || !plan || !ret)
                return -EINVAL;
        if (!plan->qemu || !plan->qemu[0] || plan->qmp_fd < 3)
                return -EINVAL;
        r = argv_check_vm(spec, plan->n_nics, QEMU_NICS_MAX, plan->macs);
        if (r < 0)
                return r;
        if (plan->vsock_fd > 0 && plan->vsock_cid < 3)
                return -EINVAL;
        STRV_FOREACH (d, spec->disks)
                if (!argv_path_ok(*d))
                        return -EINVAL;

        (void) snprintf(memory, sizeof(memory), "%u", spec->memory_mb);
        (void) snprintf(cpus, sizeof(cpus), "%u", spec->cpus);

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        r = argv_add_many(&l, plan->qemu, "-nodefaults", "-no-user-config", "-display", "none", NULL);
        if (r < 0)
                return r;

        r = argv_add_many(&l, "-accel", plan->kvm ? "kvm" : "tcg", "-cpu", plan->kvm ? "host" : "max", NULL);
        if (r < 0)
                return r;

        r = argv_add_many(&l, "-m", memory, "-smp", cpus, NULL);
        if (r < 0)
                return r;

        /* -kernel, -initrd and -append are taken whole by QEMU, not parsed as option strings. */
        if (spec->kernel) {
                r = argv_add_many(&l, "-kernel", spec->kernel, NULL);
                if (r < 0)
                        return r;
        }
        if (spec->initrd) {
                r = argv_add_many(&l, "-initrd", spec->initrd, NULL);
                if (r < 0)
                        return r;
        }
        if (spec->cmdline) {
                r = argv_add_many(&l, "-append", spec->cmdline, NULL);
                if (r < 0)
                        return r;
        }
        if (spec->bios) {
                r = argv_add_many(&l, "-bios", spec->bios, NULL);
                if (r < 0)
                        return r;
        }

        /* The instance's own overlays of spec->images first (the base stays read-only under
         * each), then the disks it was given writable. */
        STRV_FOREACH (d, (char **) plan->overlays) {
                r = argv_add(&l, "-drive");
                if (r >= 0)
                        r = argv_add_opt_path(&l, "file=", *d, ",if=virtio,format=qcow2");
                if (r < 0)
                        return r;
        }
        STRV_FOREACH (d, spec->disks) {
                r = argv_add(&l, "-drive");
                if (r < 0)
                        return r;

                r = argv_add_opt_path(&l, "file=", *d, ",if=virtio,format=raw");
                if (r < 0)
                        return r;
        }

        /* The TAPs arrive as fds 3, 4, ... Never a bare "vhost=on": QEMU 7.2 aborts instead of
         * falling back when /dev/vhost-net is missing (TESTING.md (e)); without it virtio-net runs
         * in userspace. Every VM gets its own MAC, or they all share QEMU's default and its lease. */
        for (unsigned i = 0; i < plan->n_nics; i++) {
                r = argv_add(&l, "-netdev");
                if (r < 0)
                        return r;

                /* vhost=on only with a vhost-net fd the daemon opened: never a blind "on". */
                if (plan->vhost_net_fds[i] > 0)
                        r = argv_addf(&l,
                                      "tap,id=net%u,fd=%u,vhost=on,vhostfd=%i",
                                      i,
                                      3 + i,
                                      plan->vhost_net_fds[i]);
                else
                        r = argv_addf(&l, "tap,id=net%u,fd=%u", i, 3 + i);
                if (r < 0)
                        return r;

                r = argv_add(&l, "-device");
                if (r < 0)
                        return r;

                r = argv_addf(&l, "virtio-net-pci,netdev=net%u,mac=%s", i, plan->macs[i]);
                if (r < 0)
                        return r;
        }

        /* The daemon claimed the CID on this fd; QEMU sets the same CID again on it. */
        if (plan->vsock_fd > 0) {
                r = argv_add(&l, "-device");
                if (r >= 0)
                        r = argv_addf(&l,
                                      "vhost-vsock-pci,vhostfd=%i,guest-cid=%u",
                                      plan->vsock_fd,
                                      plan->vsock_cid);
                if (r < 0)
                        return r;
        }

        /* The monitor listens on a socket the daemon made (as the owner) and handed over: it can
         * be connected to from the moment QEMU runs, with no wait for QEMU to make it. */
        r = argv_add(&l, "-chardev");
        if (r >= 0)
                r = argv_addf(&l, "socket,id=qmp,fd=%i,server=on,wait=off", plan->qmp_fd);
        if (r >= 0)
                r = argv_add_many(&l, "-mon", "chardev=qmp,mode=control", NULL);
        if (r < 0)
                return r;

        /* The console goes to stdout, which the daemon points at the console log. */
        r = argv_add_many(&l, "-serial", "stdio", "-sandbox", qemu_sandbox_opts, NULL);
        if (r < 0)
                return r;

        if (plan->paused) {
                r = argv_add(&l, "-S");
                if (r < 0)
                        return r;
        }

        STRV_FOREACH (a, spec->extra_args) {
                r = argv_add(&l, *a);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* uname's machine to QEMU's target name. */
static const char *qemu_target(const char *machine) {
        if (streq(machine, "i386") || streq(machine, "i486") || streq(machine, "i586") ||
            streq(machine, "i686"))
                return "i386";
        if (strncmp(machine, "armv", 4) == 0)
                return "arm";
        if (streq(machine, "ppc64le"))
                return "ppc64";
        return machine; /* x86_64, aarch64, riscv64, s390x, ... */
}

#define QEMU_KVM_LIBEXEC "/usr/libexec/qemu-kvm"

int qemu_find(char **ret) {
        _cleanup_free_ char *name = NULL;
        struct utsname u;
        int r;

        if (!ret)
                return -EINVAL;

        if (uname(&u) < 0)
                return -errno;
        if (asprintf(&name, "qemu-system-%s", qemu_target(u.machine)) < 0)
                return -ENOMEM;
        r = find_program("CF_QEMU", name, ret);
        /* RHEL and CentOS Stream ship QEMU only as /usr/libexec/qemu-kvm (KVM only, no TCG). */
        if (r == -ENOENT && !getenv("CF_QEMU") && access(QEMU_KVM_LIBEXEC, X_OK) >= 0) {
                *ret = strdup(QEMU_KVM_LIBEXEC);
                return *ret ? 0 : -ENOMEM;
        }
        return r;
}
