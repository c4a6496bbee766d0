/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The jail a VMM runs in (DESIGN.md §7): everything here runs in the forked child, as root, right
 * before exec. Each step returns a negative errno and sandbox_enter() names the step that failed;
 * nothing logs and nothing exits, the caller reports. The syscall filter is in seccomp.c. */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/sandbox.h"
#include "vmm/spec.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"

/* Handed-over fds per VMM: TAPs with their queues, vhost and vsock fds; far more than any backend
 * passes today. */
#define KEEP_FDS_MAX 128
/* The runtime dir and the paths in writable_paths. */
#define WRITABLE_MAX (SPEC_LIST_MAX + 1) /* disks + the runtime dir */
#define SANDBOX_NOFILE 4096

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static int step_failed(const char **ret_step, const char *step, int r) {
        if (ret_step)
                *ret_step = step;
        return r;
}

/* Copies of the fds to hand over, all above every source and target fd. */
typedef struct FdCopies {
        int fds[KEEP_FDS_MAX + 2];
        size_t n;
} FdCopies;

static void fd_copies_done(FdCopies *c) {
        for (size_t i = 0; i < c->n; i++)
                (void) safe_close(c->fds[i]);
        c->n = 0;
}

static int fd_copies_add(FdCopies *c, int fd, int above) {
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, above);

        if (copy < 0)
                return -errno;
        c->fds[c->n++] = copy;
        return copy;
}

static int sandbox_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t mask;

        /* SIGKILL and SIGSTOP cannot be changed, and glibc refuses its internal real-time signals
         * with EINVAL: those keep their (default) disposition anyway. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);

        if (sigemptyset(&mask) < 0 || sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
                return -errno;
        return 0;
}

/* keep_fds[i] to 3+i, stdout_fd to 1 and 2, /dev/null to 0, everything else closed. Each fd is
 * first copied above all sources and targets, so that moving one into place never overwrites one
 * still to be moved, and no fd is dup2()ed onto itself (which would keep its FD_CLOEXEC). */
static int sandbox_fds(const SandboxSpec *spec) {
        _cleanup_(fd_copies_done) FdCopies copies = {};
        _cleanup_close_ int null_fd = -EBADF;
        int above, out, null_copy, n = (int) spec->n_keep_fds;

        if (spec->n_keep_fds > KEEP_FDS_MAX)
                return -E2BIG;
        if (n > 0 && !spec->keep_fds)
                return -EINVAL;

        above = MAX(3 + n + 1, spec->stdout_fd + 1); /* + 1: the report fd's place */
        for (int i = 0; i < n; i++) {
                if (spec->keep_fds[i] < 0)
                        return -EBADF;
                above = MAX(above, spec->keep_fds[i] + 1);
        }

        if (spec->report_fd)
                above = MAX(above, *spec->report_fd + 2);
        for (int i = 0; i < n; i++) {
                int r = fd_copies_add(&copies, spec->keep_fds[i], above);
                if (r < 0)
                        return r;
        }
        if (spec->report_fd) {
                /* Out of the way of the moves first; it stays open until it is in place. */
                int r = fcntl(*spec->report_fd, F_DUPFD_CLOEXEC, above);
                if (r < 0)
                        return -errno;
                (void) close(*spec->report_fd);
                *spec->report_fd = r;
        }

        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return -errno;
        null_copy = fd_copies_add(&copies, null_fd, above);
        if (null_copy < 0)
                return null_copy;
        null_fd = safe_close(null_fd);

        out = null_copy;
        if (spec->stdout_fd >= 0) {
                out = fd_copies_add(&copies, spec->stdout_fd, above);
                if (out < 0)
                        return out;
        }

        for (int i = 0; i < n; i++)
                if (dup2(copies.fds[i], 3 + i) < 0)
                        return -errno;
        if (dup2(null_copy, STDIN_FILENO) < 0)
                return -errno;
        if (dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                return -errno;

        /* dup2() onto another number already cleared FD_CLOEXEC; make sure of it all the same. */
        for (int fd = 0; fd < 3 + n; fd++)
                if (fcntl(fd, F_SETFD, 0) < 0)
                        return -errno;

        if (spec->report_fd) {
                if (dup3(*spec->report_fd, 3 + n, O_CLOEXEC) < 0)
                        return -errno;
                *spec->report_fd = 3 + n;
                n++;
        }

        /* This also closes the copies. */
        copies.n = 0;
        return close_from(3 + n);
}

/* Into the leaves the daemon made for this instance (vmm/cgroup.c), one per hierarchy. Each
 * exists, so a failure is real: without the leaf the tree could not be killed as a whole. */
static int sandbox_cgroup(const SandboxSpec *spec) {
        STRV_FOREACH (p, (char **) spec->cgroup_procs) {
                int r = write_string_file(*p, "0");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* mount_setattr(2), Linux 5.12. -ENOSYS when the kernel or the headers lack it. */
static int mount_set_rdonly(const char *path, bool rdonly, unsigned flags) {
#if defined(SYS_mount_setattr) && defined(MOUNT_ATTR_RDONLY)
        struct mount_attr attr = {
                .attr_set = rdonly ? MOUNT_ATTR_RDONLY : 0,
                .attr_clr = rdonly ? 0 : MOUNT_ATTR_RDONLY,
        };

        if (syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof(attr)) < 0)
                return -errno;
        return 0;
#else
        return -ENOSYS;
#endif
}

/* The fallback: a bind remount of one mount that keeps its other flags. */
static int remount_bind(const char *path, bool rdonly) {
        static const struct {
                unsigned long st, ms;
        } keep[] = {
                { ST_NOSUID, MS_NOSUID },           { ST_NODEV, MS_NODEV },
                { ST_NOEXEC, MS_NOEXEC },           { ST_NOATIME, MS_NOATIME },
                { ST_NODIRATIME, MS_NODIRATIME },   { ST_RELATIME, MS_RELATIME },
                { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
        };
        unsigned long flags = MS_BIND | MS_REMOUNT | (rdonly ? MS_RDONLY : 0);
        struct statvfs sv;

        if (statvfs(path, &sv) < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                if (sv.f_flag & keep[i].st)
                        flags |= keep[i].ms;

        if (mount(NULL, path, NULL, flags, NULL) < 0)
                return -errno;
        return 0;
}

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape_octal(char *s) {
        char *w = s;

        for (const char *p = s; *p;) {
                bool octal = p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                                p[3] >= '0' && p[3] <= '7';

                if (octal) {
                        *w++ = (char) ((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
                        p += 4;
                } else
                        *w++ = *p++;
        }
        *w = 0;
}

/* Every mount read-only, one by one, for kernels without mount_setattr(). Mount points hidden
 * under another mount cannot be reached by path, nor by the VMM. */
static int remount_all_rdonly(void) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                char *saveptr = NULL, *path = NULL;
                int r;

                /* "36 35 98:0 /root /mount/point rw,..." */
                (void) strtok_r(line, " ", &saveptr);
                for (int i = 0; i < 4; i++)
                        path = strtok_r(NULL, " ", &saveptr);
                if (!path)
                        continue;
                unescape_octal(path);

                /* A mount point under a hidden or vanished path is skipped; the root never is. */
                r = remount_bind(path, true);
                if (r < 0 && (streq(path, "/") || (r != -ENOENT && r != -EACCES && r != -ESTALE)))
                        return r;
        }
        return 0;
}

static int mount_tmpfs(const char *path) {
        if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
                return -errno;
        return 0;
}

/* Paths to keep writable, each pinned by an O_PATH fd before /tmp is replaced: one below /tmp is
 * bound back from its fd. */
typedef struct Pinned {
        const char *paths[WRITABLE_MAX];
        int fds[WRITABLE_MAX];
        size_t n;
} Pinned;

static void pinned_done(Pinned *p) {
        for (size_t i = 0; i < p->n; i++)
                (void) safe_close(p->fds[i]);
        p->n = 0;
}

static int pinned_add(Pinned *p, const char *path) {
        int fd;

        if (p->n >= WRITABLE_MAX)
                return -E2BIG;
        if (path[0] != '/')
                return -EINVAL;

        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        p->paths[p->n] = path;
        p->fds[p->n++] = fd;
        return 0;
}

/* A path hidden by the fresh /tmp gets a mount point of its kind: a dir, or an empty file. */
static int make_mount_point(const char *path, int fd) {
        _cleanup_close_ int file = -EBADF;
        _cleanup_free_ char *parent = NULL;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return mkdir_p(path, 0755);

        parent = strndup(path, strrchr(path, '/') - path);
        if (!parent)
                return -ENOMEM;
        if (parent[0]) {
                r = mkdir_p(parent, 0755);
                if (r < 0)
                        return r;
        }

        file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (file < 0)
                return -errno;
        return 0;
}

/* Binds the pinned path onto itself, writable. That lifts only the mount's read-only flag: the
 * uid's own permissions on the file still decide. */
static int bind_writable(const char *path, int fd) {
        char proc_path[64];
        int r;

        if (access(path, F_OK) < 0) {
                if (errno != ENOENT)
                        return -errno;
                r = make_mount_point(path, fd);
                if (r < 0)
                        return r;
        }

        (void) snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", fd);
        if (mount(proc_path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;

        /* The bind inherited the read-only flag; lift it from this one mount only. */
        r = mount_set_rdonly(path, false, 0);
        if (r == -ENOSYS)
                r = remount_bind(path, false);
        return r;
}

/* Read-only system, a private /tmp and /dev/shm, the runtime dir and the writable paths writable. */
static int sandbox_mounts(const SandboxSpec *spec) {
        _cleanup_(pinned_done) Pinned pinned = {};
        int r;

        /* Nothing we do propagates to the host; host mounts and unmounts still reach us. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;

        if (spec->runtime_dir) {
                r = pinned_add(&pinned, spec->runtime_dir);
                if (r < 0)
                        return r;
        }
        for (const char *const *p = spec->writable_paths; p && *p; p++) {
                r = pinned_add(&pinned, *p);
                if (r < 0)
                        return r;
        }

        r = mount_set_rdonly("/", true, AT_RECURSIVE);
        if (r == -ENOSYS)
                r = remount_all_rdonly();
        if (r < 0)
                return r;

        r = mount_tmpfs("/tmp");
        if (r < 0)
                return r;

        r = mount_tmpfs("/dev/shm");
        if (r < 0 && r != -ENOENT)
                return r;

        /* sysfs shows the network namespace of whoever mounted it: a fresh one, read-only, shows
         * the empty namespace, so the host's interfaces are not visible in /sys/class/net. */
        if (spec->new_netns) {
                (void) umount2("/sys", MNT_DETACH);
                if (mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        return -errno;
        }

        for (size_t i = 0; i < pinned.n; i++) {
                r = bind_writable(pinned.paths[i], pinned.fds[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int sandbox_rlimits(void) {
        if (setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 }) < 0)
                return -errno;
        if (setrlimit(RLIMIT_NOFILE, &(struct rlimit){ SANDBOX_NOFILE, SANDBOX_NOFILE }) < 0)
                return -errno;
        return 0;
}

/* While still root: nothing can come back through exec (bounding set) or survive the uid change
 * (ambient set). */
static int caps_drop_bounding(void) {
        for (unsigned long cap = 0;; cap++) {
                int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
                if (r < 0) {
                        if (errno == EINVAL) /* past the kernel's last capability */
                                break;
                        return -errno;
                }
                if (r > 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return -errno;
        }

        /* EINVAL: no ambient capabilities before Linux 4.3. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

/* After the uid change: the inheritable set survives setresuid(), so clear all three sets, then
 * read them back. */
static int caps_clear_verify(void) {
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capset, &header, data) < 0)
                return -errno;
        if (syscall(SYS_capget, &header, data) < 0)
                return -errno;

        for (size_t i = 0; i < ELEMENTSOF(data); i++)
                if (data[i].effective || data[i].permitted || data[i].inheritable)
                        return SYNTHETIC_ERRNO(EPERM);
        return 0;
}

static int verify_ids(const SandboxSpec *spec) {
        uid_t ruid, euid, suid;
        gid_t rgid, egid, sgid;

        if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
                return -errno;
        if (ruid != spec->uid || euid != spec->uid || suid != spec->uid)
                return SYNTHETIC_ERRNO(EPERM);
        if (rgid != spec->gid || egid != spec->gid || sgid != spec->gid)
                return SYNTHETIC_ERRNO(EPERM);

        /* No way back to root. */
        if (spec->uid != 0 && setuid(0) >= 0)
                return SYNTHETIC_ERRNO(EPERM);
        return 0;
}

int sandbox_enter(const SandboxSpec *spec, const char **ret_step) {
        int r;

        if (!spec)
                return step_failed(ret_step, "spec", -EINVAL);

        if (setsid() < 0)
                return step_failed(ret_step, "setsid", -errno);

        r = sandbox_signals();
        if (r < 0)
                return step_failed(ret_step, "signals", r);

        r = sandbox_fds(spec);
        if (r < 0)
                return step_failed(ret_step, "fds", r);

        r = sandbox_cgroup(spec);
        if (r < 0)
                return step_failed(ret_step, "cgroup", r);

        if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (spec->new_netns ? CLONE_NEWNET : 0)) < 0)
                return step_failed(ret_step, "unshare", -errno);

        r = sandbox_mounts(spec);
        if (r < 0)
                return step_failed(ret_step, "mount", r);

        r = sandbox_rlimits();
        if (r < 0)
                return step_failed(ret_step, "rlimits", r);

        r = caps_drop_bounding();
        if (r < 0)
                return step_failed(ret_step, "capabilities", r);

        if (setgroups(spec->n_groups, spec->n_groups > 0 ? spec->groups : NULL) < 0)
                return step_failed(ret_step, "setgroups", -errno);

        if (setresgid(spec->gid, spec->gid, spec->gid) < 0)
                return step_failed(ret_step, "setresgid", -errno);

        if (setresuid(spec->uid, spec->uid, spec->uid) < 0)
                return step_failed(ret_step, "setresuid", -errno);

        r = caps_clear_verify();
        if (r < 0)
                return step_failed(ret_step, "verify-capabilities", r);

        r = verify_ids(spec);
        if (r < 0)
                return step_failed(ret_step, "verify-ids", r);

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return step_failed(ret_step, "no_new_privs", -errno);

        if (spec->seccomp) {
                r = spec->seccomp_program ? sandbox_seccomp_program_load(spec->seccomp_program)
                                          : sandbox_seccomp_load();
                if (r < 0)
                        return step_failed(ret_step, "seccomp", r);
        }
        return 0;
}
