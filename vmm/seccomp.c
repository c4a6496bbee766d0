/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM's syscall filter: allow by default, EPERM for what a VMM never needs and a jail must
 * not offer. libseccomp stays in this file; since 2.5 it returns negative errno values, and with
 * SCMP_FLTATR_API_SYSRAWRC seccomp_load() passes the kernel's errno on. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/macro.h"
#include "vmm/sandbox.h"

DEFINE_CLEANUP(scmp_filter_ctx, seccomp_release);

static const char *const denied_syscalls[] = {
        /* mounts and roots, old and new mount API */
        "mount",
        "umount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        /* other processes */
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        /* the kernel itself */
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "bpf",
        "perf_event_open",
        "swapon",
        "swapoff",
        "reboot",
        "acct",
        "syslog",
        "iopl",
        "ioperm",
        /* namespaces */
        "setns",
        "unshare",
        /* file handles bypass path permissions */
        "open_by_handle_at",
        "name_to_handle_at",
        /* the kernel keyring */
        "add_key",
        "keyctl",
        "request_key",
        "userfaultfd",
        /* the host clock */
        "settimeofday",
        "clock_settime",
        "adjtimex",
        "clock_adjtime",
};

/* clone() may create namespaces as unshare() does. CLONE_NEWTIME is left out: in clone() that bit
 * belongs to the exit signal. */
static const unsigned long clone_ns_flags[] = {
        CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

static int deny(scmp_filter_ctx ctx, const char *name) {
        int nr = seccomp_syscall_resolve_name(name);

        /* Unknown to this libseccomp: older than the kernel's syscall, nothing to deny. Names this
         * architecture lacks (umount on x86-64) resolve to pseudo numbers that libseccomp skips. */
        if (nr == __NR_SCMP_ERROR)
                return 0;
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
}

static int deny_sockets(scmp_filter_ctx ctx) {
        static const int raw_domains[] = { AF_INET, AF_INET6 };
        const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
        int r;

        /* Raw frames and the host's netlink configuration: the VMM has its TAPs as fds. */
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET));
        if (r < 0)
                return r;

        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(raw_domains); i++) {
                struct scmp_arg_cmp domain = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t) raw_domains[i]);
                /* The type's low bits, without SOCK_CLOEXEC and SOCK_NONBLOCK. */
                struct scmp_arg_cmp type = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW);

                r = seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 2, domain, type);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int deny_clone_namespaces(scmp_filter_ctx ctx) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(clone_ns_flags); i++) {
                scmp_datum_t f = clone_ns_flags[i];
#if defined(__s390__) || defined(__s390x__)
                /* s390 swaps clone()'s first two arguments. */
                struct scmp_arg_cmp flags = SCMP_A1(SCMP_CMP_MASKED_EQ, f, f);
#else
                struct scmp_arg_cmp flags = SCMP_A0(SCMP_CMP_MASKED_EQ, f, f);
#endif

                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, flags);
                if (r < 0)
                        return r;
        }

        /* clone3() passes its flags in memory, out of the filter's reach. ENOSYS makes glibc (>= 2.34)
         * fall back to clone(), as under systemd's RestrictNamespaces=. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r < 0 && r != -EDOM)
                return r;
        return 0;
}

static int seccomp_build(scmp_filter_ctx *ret) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return -ENOMEM;

        /* Older libseccomp lacks the attribute; it then reports -ECANCELED for a kernel failure. */
        (void) seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);

        for (size_t i = 0; i < ELEMENTSOF(denied_syscalls); i++) {
                r = deny(ctx, denied_syscalls[i]);
                if (r < 0)
                        return r;
        }

        r = deny_sockets(ctx);
        if (r < 0)
                return r;

        r = deny_clone_namespaces(ctx);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

int sandbox_seccomp_load(void) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        r = seccomp_build(&ctx);
        if (r < 0)
                return r;

        return seccomp_load(ctx);
}

/* libseccomp exports to an fd only (2.5): a memfd, read back whole. */
int sandbox_seccomp_compile(SeccompProgram *ret) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ void *buf = NULL;
        struct stat st;
        ssize_t n;
        int r;

        r = seccomp_build(&ctx);
        if (r < 0)
                return r;
        fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
            st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return -EBADMSG;
        buf = malloc(st.st_size);
        if (!buf)
                return -ENOMEM;
        n = pread(fd, buf, st.st_size, 0);
        if (n != st.st_size)
                return n < 0 ? -errno : -EIO;
        *ret = (SeccompProgram){ .filter = TAKE_PTR(buf),
                                 .len = (unsigned short) (st.st_size / sizeof(struct sock_filter)) };
        return 0;
}

int sandbox_seccomp_program_load(const SeccompProgram *p) {
        struct sock_fprog prog = { .len = p->len, .filter = p->filter };

        if (!p->filter || p->len == 0)
                return -EINVAL;
        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -errno : 0;
}

void sandbox_seccomp_program_done(SeccompProgram *p) {
        p->filter = mfree(p->filter);
        p->len = 0;
}
