/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sandbox_enter() against the real kernel, as root. Each case forks a child; the child gets a
 * report pipe as its fd 1, enters the jail (as nobody) and checks from the inside what it can and
 * cannot do, one "ok NAME" or "FAIL NAME (why)" line per check, then "end". The parent prints the
 * lines, counts the failures and checks from the outside what the child left behind. Every
 * namespace is made inside a child: the machine's own network and mounts are never touched. */
#undef NDEBUG
#include <dirent.h>
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/cgroup.h"
#include "vmm/sandbox.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_LEAF "instance-1"
#define MEMORY_MAX (UINT64_C(256) * 1024 * 1024)
#define TASKS_MAX 64
#define FD_HIGH 100 /* the parent parks its pipes here, out of the way of the child's moves */
#define FD_STRAY 9  /* open in the child, not handed over */

/* Each kind's name in /proc/self/cgroup; "" for cgroup2. */
static const char *const kind_controller[_CGROUP_KIND_MAX] = {
        [CGROUP_UNIFIED] = "",
        [CGROUP_V1_MEMORY] = "memory",
        [CGROUP_V1_PIDS] = "pids",
        [CGROUP_V1_FREEZER] = "freezer",
};

typedef struct Env {
        uid_t uid;
        gid_t gid;
        pid_t parent;
        char runtime_dir[64];
        char tmp_marker[64];    /* in the host's /tmp; the child must not see it */
        char disks[2][64];      /* in /var/tmp and /tmp, owned by nobody: writable_paths */
        char cgroup_parent[64]; /* our subtree, unique to this run: cfhr-test-sandbox-PID */
        CgroupLayout layout;    /* made by the parent, as root, like the daemon does */
        char **cgroup_procs;    /* the leaf's cgroup.procs files (cgroup_leaf_create) */
        ino_t ns_net, ns_mnt, ns_uts, ns_ipc;
        int report;  /* write end of the report pipe */
        int ping[2]; /* parent wrote "ping" into [1]; [0] is handed over */
        int pong[2]; /* [1] is handed over; the child writes "pong" */
} Env;

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* Child side: one line per check on fd 1. */
static unsigned child_failed;

_printf_(2, 3) static void check(bool ok, const char *fmt, ...) {
        char buf[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        dprintf(STDOUT_FILENO, "%s %s\n", ok ? "ok" : "FAIL", buf);
        if (!ok)
                child_failed++;
}

/* A call returned r (errno in err); it must have failed with one of the two errno values. */
static void check_fails(const char *what, long r, int err, int want1, int want2) {
        bool ok = r < 0 && (err == want1 || err == want2);
        const char *got = r < 0 ? strerrorname_np(err) : "no error";

        if (ok)
                check(true, "%s fails with %s", what, got);
        else
                check(false, "%s fails with %s (returned %ld, %s)", what, strerrorname_np(want1), r, got);
}

static void check_works(const char *what, long r, int err) {
        if (r >= 0)
                check(true, "%s works", what);
        else
                check(false, "%s works (errno %s)", what, strerrorname_np(err));
}

/* The call first, then errno: not both as arguments of one call, whose order is unspecified. */
#define CHECK_FAILS(what, call, want)                  \
        do {                                           \
                long _r = (long) (call);               \
                int _e = errno;                        \
                check_fails(what, _r, _e, want, want); \
        } while (0)

static bool status_field_is(const char *key, const char *want) {
        _cleanup_free_ char *s = NULL;
        char needle[64];
        const char *p;

        if (read_full_file("/proc/self/status", &s, NULL) < 0)
                return false;
        (void) snprintf(needle, sizeof(needle), "\n%s:", key);
        p = strstr(s, needle);
        if (!p)
                return false;
        p += strlen(needle);
        p += strspn(p, " \t");
        return strncmp(p, want, strlen(want)) == 0 && p[strlen(want)] == '\n';
}

static ino_t ns_inode(const char *name) {
        char path[64];
        struct stat st;

        (void) snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
        if (stat(path, &st) < 0)
                return 0;
        return st.st_ino;
}

static int try_create(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);
        int fd;

        assert(p);
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, "x", 1) != 1) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return 0;
}

static void check_write(const char *dir, bool writable, bool must_be_erofs) {
        int r = try_create(dir, "sandbox-probe");

        if (writable)
                check_works(dir[0] == '.' ? "writing the cwd" : dir, r, -r);
        else if (must_be_erofs)
                check_fails(dir, r, -r, EROFS, EROFS);
        else
                check_fails(dir[0] == '.' ? "writing the cwd" : dir, r, -r, EROFS, EACCES);
}

static void check_ids(const Env *e) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg, groups[8];
        int n;

        assert(getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0);
        check(ru == e->uid && eu == e->uid && su == e->uid, "uid is nobody's (%u)", (unsigned) e->uid);
        check(rg == e->gid && eg == e->gid && sg == e->gid, "gid is nobody's (%u)", (unsigned) e->gid);
        n = getgroups(ELEMENTSOF(groups), groups);
        check(n == 1 && groups[0] == e->gid, "supplementary groups are the given ones");
        CHECK_FAILS("setuid(0)", setuid(0), EPERM);
}

static void check_caps(void) {
        static const char *const sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };

        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                check(status_field_is(sets[i], "0000000000000000"), "%s is empty", sets[i]);
        check(status_field_is("NoNewPrivs", "1"), "NoNewPrivs is 1");
}

/* fd 0 is /dev/null, fds 1 and 2 the report pipe, 3 and 4 the handed-over pipes without
 * FD_CLOEXEC, nothing else open. */
static void check_fds(const Env *e) {
        struct stat st0, st1, st2;
        char buf[8] = {};
        int open_fds = 0;

        check(fstat(0, &st0) == 0 && S_ISCHR(st0.st_mode) && st0.st_rdev == makedev(1, 3),
              "fd 0 is /dev/null");
        check(fstat(1, &st1) == 0 && fstat(2, &st2) == 0 && S_ISFIFO(st1.st_mode) &&
                              st1.st_ino == st2.st_ino,
              "fds 1 and 2 are the console pipe");
        check(fcntl(3, F_GETFD) == 0 && fcntl(4, F_GETFD) == 0, "fds 3 and 4 are open without FD_CLOEXEC");
        check(read(3, buf, sizeof(buf) - 1) == 4 && streq(buf, "ping"),
              "fd 3 is the first kept pipe (read ping)");
        check(write(4, "pong", 4) == 4, "fd 4 is the second kept pipe (wrote pong)");
        check(fcntl(FD_STRAY, F_GETFD) < 0 && errno == EBADF, "fd %d, not kept, is closed", FD_STRAY);
        for (int fd = 5; fd < 4096; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        open_fds++;
        check(open_fds == 0, "no fd above 4 is open (%d are)", open_fds);
}

static void check_rlimits(void) {
        struct rlimit core, nofile;

        assert(getrlimit(RLIMIT_CORE, &core) == 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0);
        check(core.rlim_cur == 0 && core.rlim_max == 0, "RLIMIT_CORE is 0");
        check(nofile.rlim_cur == 4096 && nofile.rlim_max == 4096, "RLIMIT_NOFILE is 4096");
}

/* Only lo in /proc/net/dev (if_nameindex() would need netlink, which the filter denies). */
/* /sys/class/net must not list the host's interfaces either (a fresh sysfs for the new netns). */
static void check_sys_class_net(void) {
        DIR *d = opendir("/sys/class/net");
        struct dirent *de;
        unsigned others = 0;

        check(!!d, "/sys/class/net is readable");
        if (!d)
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strcmp(de->d_name, "lo") != 0)
                        others++;
        closedir(d);
        check(others == 0, "/sys/class/net shows no host interface (%u others)", others);
}

static void check_netns(const Env *e) {
        _cleanup_free_ char *s = NULL;
        unsigned n = 0;
        bool lo = false;
        char *save = NULL;

        check_sys_class_net();

        check(ns_inode("net") != e->ns_net, "network namespace is new");
        if (read_full_file("/proc/net/dev", &s, NULL) < 0) {
                check(false, "/proc/net/dev readable (%m)");
                return;
        }
        for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue; /* the two header lines */
                *colon = 0;
                line += strspn(line, " ");
                lo = lo || streq(line, "lo");
                n++;
        }
        check(n == 1 && lo, "only lo is visible (%u interfaces)", n);
}

static void check_mounts(const Env *e) {
        struct statfs sfs;
        struct stat st;

        check(ns_inode("mnt") != e->ns_mnt && ns_inode("uts") != e->ns_uts && ns_inode("ipc") != e->ns_ipc,
              "mount, UTS and IPC namespaces are new");
        check_write("/etc", false, false);
        check_write("/usr", false, false);
        check_write("/var/tmp", false, true);
        check_write(".", false, false);
        check_write(e->runtime_dir, true, false);
        check_write("/tmp", true, false);
        check_write("/dev/shm", true, false);
        check(statfs("/tmp", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC, "/tmp is a tmpfs");
        check(access("/dev/null", W_OK) == 0, "/dev/null stays writable");
        check(stat(e->tmp_marker, &st) < 0 && errno == ENOENT,
              "/tmp is private (the host's files are not there)");
        CHECK_FAILS("mount", mount("tmpfs", "/tmp", "tmpfs", 0, NULL), EPERM);
        CHECK_FAILS("umount2", umount2("/tmp", MNT_DETACH), EPERM);
}

/* "Disk images" outside the runtime dir, one of them hidden by the fresh /tmp. */
static void check_disks(const Env *e) {
        for (size_t i = 0; i < ELEMENTSOF(e->disks); i++) {
                int fd = open(e->disks[i], O_WRONLY | O_TRUNC | O_CLOEXEC);
                bool ok = fd >= 0 && write(fd, "disk", 4) == 4;

                check(ok, "writing %s (in writable_paths) works", e->disks[i]);
                if (fd >= 0)
                        close(fd);
        }
}

/* Is controller one of the comma-separated list ctl? "" (cgroup2) only matches "". */
static bool controller_listed(const char *ctl, const char *controller) {
        _cleanup_(strv_freep) char **l = NULL;

        if (!*controller)
                return !*ctl;
        if (strv_split(ctl, ",", &l) < 0)
                return false;
        STRV_FOREACH (c, l)
                if (streq(*c, controller))
                        return true;
        return false;
}

/* In the instance leaf of every hierarchy the layout uses: dirs[k] is "<mount>/<parent>", so
 * /proc/self/cgroup names the leaf "/<parent>/<leaf>" there. */
static void check_cgroup(const Env *e) {
        _cleanup_free_ char *s = NULL;
        char want[128];
        int r;

        (void) snprintf(want, sizeof(want), "/%s/%s", e->layout.parent, CGROUP_LEAF);
        r = read_full_file("/proc/self/cgroup", &s, NULL);
        check(r >= 0, "/proc/self/cgroup is readable (%d)", r);
        if (r < 0)
                return;
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *copy = NULL;
                const char *dir = e->layout.dirs[k], *found = NULL;
                char *save = NULL;

                if (!dir)
                        continue;
                copy = strdup(s);
                assert(copy);
                for (char *line = strtok_r(copy, "\n", &save); line && !found;
                     line = strtok_r(NULL, "\n", &save)) {
                        char *ctl = strchr(line, ':'), *path;

                        if (!ctl)
                                continue;
                        ctl++;
                        path = strchr(ctl, ':');
                        if (!path)
                                continue;
                        *path++ = 0;
                        if (controller_listed(ctl, kind_controller[k]))
                                found = path;
                }
                check(found && streq(found, want),
                      "in %s/%s (is %s)",
                      dir,
                      CGROUP_LEAF,
                      found ?: "no such hierarchy in /proc/self/cgroup");
        }
}

/* The filter, seen from a jailed child (EPERM from seccomp and from missing capabilities alike). */
static void check_denied_syscalls(const Env *e) {
        long r;

        r = ptrace(PTRACE_ATTACH, e->parent, NULL, NULL);
        check_fails("ptrace(PTRACE_ATTACH) of the test process", r, errno, EPERM, EPERM);
        if (r >= 0) {
                (void) waitpid(e->parent, NULL, __WALL);
                (void) ptrace(PTRACE_DETACH, e->parent, NULL, NULL);
        }
        CHECK_FAILS("finit_module", syscall(SYS_finit_module, -1, "", 0), EPERM);
        CHECK_FAILS("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM);
        CHECK_FAILS("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), EPERM);
        CHECK_FAILS("socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0), EPERM);
        r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        check_works("socket(AF_INET, SOCK_DGRAM)", r, errno);
        if (r >= 0)
                close((int) r);
        check(status_field_is("Seccomp", "2"), "Seccomp is 2");
}

static void enter(const SandboxSpec *spec) {
        const char *step = NULL;
        int r = sandbox_enter(spec, &step);

        if (r < 0) {
                dprintf(STDOUT_FILENO, "FAIL sandbox_enter: %s: %s\n", strempty(step), strerror(-r));
                _exit(EXIT_FAILURE);
        }
}

/* In the child, before sandbox_enter(): the report pipe as fd 1, the handed-over pipes and a
 * stray fd at chosen numbers, each with FD_CLOEXEC set. */
static void place_fd(int fd, int target) {
        assert(dup3(fd, target, O_CLOEXEC) == target);
}

/* An fd not to be handed over, without FD_CLOEXEC: sandbox_enter() must close it all the same. */
static void stray_fd(int target) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        assert(fd >= 0);
        assert(dup2(fd, target) == target);
        close(fd);
}

/* Run by /bin/sh in the jail, with the runtime dir and nobody's uid as $1 and $2. */
static const char exec_script[] =
                "if touch \"$1/from-shell\" && [ \"$(id -u)\" = \"$2\" ]; then\n"
                "        echo 'ok exec: /bin/sh runs as nobody and writes the runtime dir'\n"
                "else\n"
                "        echo 'FAIL exec: /bin/sh runs as nobody and writes the runtime dir'\n"
                "fi\n"
                "echo end\n";

/* The full jail: new netns, cgroup, seccomp. The kept fds arrive swapped (the fd for 3 sits at 4
 * and the other way round), and stdout_fd already sits at its target 1. */
_noreturn_ static void child_jail(const Env *e) {
        const char *writable[] = { e->disks[0], e->disks[1], NULL };
        gid_t groups[] = { e->gid };
        int keep[] = { 4, 3 };
        char uid[16];
        SandboxSpec spec = {
                .uid = e->uid,
                .gid = e->gid,
                .groups = groups,
                .n_groups = 1,
                .runtime_dir = e->runtime_dir,
                .writable_paths = writable,
                .cgroup_procs = (const char *const *) e->cgroup_procs,
                .keep_fds = keep,
                .n_keep_fds = 2,
                .stdout_fd = STDOUT_FILENO,
                .new_netns = true,
                .seccomp = true,
        };

        (void) snprintf(uid, sizeof(uid), "%u", (unsigned) e->uid);
        place_fd(e->report, STDOUT_FILENO);
        place_fd(e->ping[0], 4);
        place_fd(e->pong[1], 3);
        stray_fd(FD_STRAY);
        enter(&spec);

        check_ids(e);
        check_caps();
        check_fds(e);
        check_rlimits();
        check_netns(e);
        check_mounts(e);
        check_disks(e);
        check_cgroup(e);
        check_denied_syscalls(e);
        if (child_failed > 0) {
                dprintf(STDOUT_FILENO, "end\n");
                _exit(EXIT_FAILURE);
        }

        /* What the VMM does next: exec, under no_new_privs and the filter, keeping fds 1 and 2. */
        execl("/bin/sh", "sh", "-c", exec_script, "sh", e->runtime_dir, uid, (char *) NULL);
        dprintf(STDOUT_FILENO, "FAIL exec /bin/sh (%m)\n");
        _exit(EXIT_FAILURE);
}

/* The cvd backend's lighter profile: host network namespace, no filter, no cgroup. One kept fd
 * already sits at its target (with FD_CLOEXEC), the other's target is held by a stray fd. */
_noreturn_ static void child_light(const Env *e) {
        int keep[] = { 3, 6 };
        SandboxSpec spec = {
                .uid = e->uid,
                .gid = e->gid,
                .groups = &e->gid,
                .n_groups = 1,
                .runtime_dir = e->runtime_dir,
                .keep_fds = keep,
                .n_keep_fds = 2,
                .stdout_fd = STDOUT_FILENO,
        };
        long r;

        place_fd(e->report, STDOUT_FILENO);
        place_fd(e->ping[0], 3);
        place_fd(e->pong[1], 6);
        stray_fd(4);
        stray_fd(FD_STRAY);
        enter(&spec);

        check_ids(e);
        check_caps();
        check_fds(e);
        check(fcntl(6, F_GETFD) < 0 && errno == EBADF, "fd 6, moved to 4, is closed");
        check(ns_inode("net") == e->ns_net, "network namespace is the host's");
        check(status_field_is("Seccomp", "0"), "Seccomp is 0");
        check_write("/var/tmp", false, true);
        check_write(e->runtime_dir, true, false);
        CHECK_FAILS("mount without capabilities", mount("tmpfs", "/tmp", "tmpfs", 0, NULL), EPERM);
        r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        check_fails("socket(AF_INET, SOCK_RAW) without capabilities", r, errno, EPERM, EPERM);
        dprintf(STDOUT_FILENO, "end\n");
        _exit(child_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* Makes mount_setattr() fail with ENOSYS, as on kernels before 5.12 (classic BPF, so that the
 * test does not need libseccomp). */
static int hide_mount_setattr(void) {
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount_setattr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };

        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* The fallback for kernels without mount_setattr(): every mount remounted read-only by path,
 * keeping its other flags. */
_noreturn_ static void child_old_kernel(const Env *e) {
        /* Not /sys: with a new network namespace it is replaced by a fresh read-only sysfs
         * (checked by check_sys_class_net()), so the host's /sys flags do not carry over. */
        static const char *const paths[] = { "/", "/proc", "/dev", "/dev/pts" };
        const unsigned long kept =
                        ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME;
        unsigned long before[ELEMENTSOF(paths)];
        SandboxSpec spec = {
                .uid = e->uid,
                .gid = e->gid,
                .groups = &e->gid,
                .n_groups = 1,
                .runtime_dir = e->runtime_dir,
                .stdout_fd = STDOUT_FILENO,
                .new_netns = true,
                .seccomp = true,
        };
        struct statvfs sv;
        bool ok;
        long r;

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                before[i] = statvfs(paths[i], &sv) == 0 ? sv.f_flag : ULONG_MAX;
        place_fd(e->report, STDOUT_FILENO);
        assert(hide_mount_setattr() == 0);
        r = syscall(SYS_mount_setattr, -1, "", 0, NULL, 0);
        check(r < 0 && errno == ENOSYS, "mount_setattr() is hidden (ENOSYS)");
        enter(&spec);

        check_ids(e);
        check_mounts(e);
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                if (before[i] == ULONG_MAX)
                        continue;
                if (statvfs(paths[i], &sv) < 0)
                        sv.f_flag = 0;
                ok = (sv.f_flag & ST_RDONLY) && (sv.f_flag & kept) == (before[i] & kept);
                check(ok,
                      "%s read-only, other flags kept (0x%lx, was 0x%lx)",
                      paths[i],
                      sv.f_flag,
                      before[i]);
        }
        check(statvfs(e->runtime_dir, &sv) == 0 && !(sv.f_flag & ST_RDONLY), "the runtime dir is writable");
        dprintf(STDOUT_FILENO, "end\n");
        _exit(child_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* Failures name their step, and nothing past the failed step happens. */
_noreturn_ static void child_errors(const Env *e) {
        const char *step = NULL;
        SandboxSpec spec = {
                .uid = e->uid,
                .gid = e->gid,
                .runtime_dir = "/nonexistent/sandbox-test",
                .stdout_fd = STDOUT_FILENO,
                .new_netns = true,
        };
        bool ok;
        int r;

        place_fd(e->report, STDOUT_FILENO);

        if (fork() == 0) {
                SandboxSpec bad = spec;
                char missing[PATH_MAX];
                const char *procs[] = { missing, NULL };
                const char *dir = CGROUP_ROOT;

                /* A leaf that is not there (removed meanwhile, say): joining it must not be skipped. */
                for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                        if (e->layout.dirs[k]) {
                                dir = e->layout.dirs[k];
                                break;
                        }
                (void) snprintf(missing, sizeof(missing), "%s/no-such-leaf/cgroup.procs", dir);
                bad.cgroup_procs = procs;
                r = sandbox_enter(&bad, &step);
                ok = r == -ENOENT && streq_ptr(step, "cgroup");
                check(ok,
                      "a cgroup.procs that does not exist (%s) fails in step cgroup (%d, %s)",
                      missing,
                      r,
                      strempty(step));
                check(getuid() == 0, "and the uid is not changed yet");
                _exit(child_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        assert(wait(&r) > 0);

        r = sandbox_enter(&spec, &step);
        ok = r == -ENOENT && streq_ptr(step, "mount");
        check(ok, "a missing runtime dir fails in step mount (%d, %s)", r, strempty(step));
        check(getuid() == 0, "and the uid is not changed yet");
        dprintf(STDOUT_FILENO, "end\n");
        _exit(child_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

static void *thread_noop(void *arg) {
        return arg;
}

/* Denied calls, with arguments that make them fail or do nothing should the filter let them
 * through to the kernel as root. */
static const struct {
        const char *name;
        long nr;
        long a[5];
        int err;
} denied[] = {
        { "pivot_root", SYS_pivot_root, {}, EPERM },
        { "process_vm_readv", SYS_process_vm_readv, {}, EPERM },
        { "process_vm_writev", SYS_process_vm_writev, {}, EPERM },
        { "init_module", SYS_init_module, {}, EPERM },
        { "finit_module", SYS_finit_module, { -1 }, EPERM },
        { "delete_module", SYS_delete_module, {}, EPERM },
        { "kexec_load", SYS_kexec_load, { 0, 0, 0, -1 }, EPERM },
        { "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, -1 }, EPERM },
        { "bpf", SYS_bpf, {}, EPERM },
        { "perf_event_open", SYS_perf_event_open, {}, EPERM },
        { "swapon", SYS_swapon, {}, EPERM },
        { "swapoff", SYS_swapoff, {}, EPERM },
        { "reboot", SYS_reboot, {}, EPERM },
        { "open_by_handle_at", SYS_open_by_handle_at, { -1 }, EPERM },
        { "name_to_handle_at", SYS_name_to_handle_at, { AT_FDCWD }, EPERM },
        { "add_key", SYS_add_key, {}, EPERM },
        { "keyctl", SYS_keyctl, {}, EPERM },
        { "request_key", SYS_request_key, {}, EPERM },
        { "userfaultfd", SYS_userfaultfd, { O_CLOEXEC }, EPERM },
        { "acct", SYS_acct, { 1 }, EPERM },
        { "settimeofday", SYS_settimeofday, {}, EPERM },
        { "clock_settime", SYS_clock_settime, {}, EPERM },
        { "adjtimex", SYS_adjtimex, {}, EPERM },
        { "iopl", SYS_iopl, {}, EPERM },
        { "ioperm", SYS_ioperm, {}, EPERM },
        { "syslog", SYS_syslog, { 10 }, EPERM }, /* SYSLOG_ACTION_SIZE_BUFFER */
        { "fsopen", SYS_fsopen, {}, EPERM },
        { "open_tree", SYS_open_tree, { -1 }, EPERM },
        { "mount_setattr", SYS_mount_setattr, { -1 }, EPERM },
        { "clone3", SYS_clone3, {}, ENOSYS },
};

/* Set: the second run loads the filter the parent compiled ahead, as the daemon hands it over. */
static const SeccompProgram *compiled_filter;

/* sandbox_seccomp_load() alone, as root with all capabilities: every EPERM is the filter's. The
 * child makes its own mount and network namespaces first, in case the filter let a call through. */
_noreturn_ static void child_seccomp(const Env *e) {
        pthread_t thread;
        pid_t pid = getpid(), victim;
        long r;
        int status;

        place_fd(e->report, STDOUT_FILENO);
        assert(unshare(CLONE_NEWNS | CLONE_NEWNET) == 0);
        assert(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
        victim = fork();
        assert(victim >= 0);
        if (victim == 0) {
                pause();
                _exit(EXIT_SUCCESS);
        }

        r = compiled_filter ? sandbox_seccomp_program_load(compiled_filter) : sandbox_seccomp_load();
        check(r == 0,
              "%s (%ld)",
              compiled_filter ? "sandbox_seccomp_program_load()" : "sandbox_seccomp_load()",
              r);
        check(status_field_is("Seccomp", "2"), "Seccomp is 2");
        check(getpid() == pid, "getpid works");

        CHECK_FAILS("mount", mount("tmpfs", "/tmp", "tmpfs", 0, NULL), EPERM);
        CHECK_FAILS("umount2", umount2("/proc", MNT_DETACH), EPERM);
        CHECK_FAILS("chroot", chroot("/"), EPERM);
        CHECK_FAILS("unshare", unshare(CLONE_NEWUTS), EPERM);
        CHECK_FAILS("setns", setns(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), 0), EPERM);
        r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
        if (r == 0)
                _exit(EXIT_SUCCESS);
        if (r > 0)
                (void) waitpid((pid_t) r, NULL, 0);
        check_fails("clone(CLONE_NEWUSER)", r, errno, EPERM, EPERM);
        r = ptrace(PTRACE_ATTACH, victim, NULL, NULL);
        check_fails("ptrace(PTRACE_ATTACH)", r, errno, EPERM, EPERM);
        for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
                long k =
                                syscall(denied[i].nr,
                                        denied[i].a[0],
                                        denied[i].a[1],
                                        denied[i].a[2],
                                        denied[i].a[3],
                                        denied[i].a[4]);
                int err = errno;

                check_fails(denied[i].name, k, err, denied[i].err, denied[i].err);
        }
        CHECK_FAILS("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM);
        CHECK_FAILS("socket(AF_INET6, SOCK_RAW|SOCK_CLOEXEC|SOCK_NONBLOCK)",
                    socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6),
                    EPERM);
        CHECK_FAILS("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), EPERM);
        CHECK_FAILS("socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW, 0), EPERM);
        r = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        check_works("socket(AF_INET6, SOCK_DGRAM)", r, errno);
        r = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        check_works("socket(AF_UNIX)", r, errno);
        r = pthread_create(&thread, NULL, thread_noop, NULL);
        check_works("pthread_create (clone3 falls back to clone)", -r, r);
        if (r == 0)
                assert(pthread_join(thread, NULL) == 0);

        (void) kill(victim, SIGKILL);
        check(waitpid(victim, &status, 0) == victim, "fork and waitpid work");
        dprintf(STDOUT_FILENO, "end\n");
        _exit(child_failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* Parent side. */
static int move_high(int fd) {
        int high = fcntl(fd, F_DUPFD_CLOEXEC, FD_HIGH);

        assert(high >= 0);
        close(fd);
        return high;
}

static void env_pipes(Env *e) {
        int p[2];

        assert(pipe2(p, O_CLOEXEC) == 0);
        e->ping[0] = move_high(p[0]);
        e->ping[1] = move_high(p[1]);
        assert(pipe2(p, O_CLOEXEC) == 0);
        e->pong[0] = move_high(p[0]);
        e->pong[1] = move_high(p[1]);
        assert(write(e->ping[1], "ping", 4) == 4);
}

static void env_close_pipes(Env *e) {
        e->ping[0] = safe_close(e->ping[0]);
        e->ping[1] = safe_close(e->ping[1]);
        e->pong[0] = safe_close(e->pong[0]);
        e->pong[1] = safe_close(e->pong[1]);
}

/* Parent side: failures counted here. */
static unsigned parent_failed;

_printf_(2, 3) static void parent_check(bool ok, const char *fmt, ...) {
        va_list ap;

        printf("%s ", ok ? "ok" : "FAIL");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        if (!ok)
                parent_failed++;
}

/* Runs fn in a child and relays its report. */
static void run_child(const char *name, void (*fn)(const Env *e), Env *e) {
        _cleanup_free_ char *line = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        bool ended = false, ok;
        size_t size = 0;
        int p[2], status;
        pid_t pid;

        assert(pipe2(p, O_CLOEXEC) == 0);
        e->report = move_high(p[1]);
        fflush(stdout);
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                fn(e);
                _exit(EXIT_FAILURE);
        }
        e->report = safe_close(e->report);
        if (e->ping[0] >= 0) {
                /* The child's copies are its only ones now. */
                e->ping[0] = safe_close(e->ping[0]);
                e->pong[1] = safe_close(e->pong[1]);
        }

        f = fdopen(p[0], "r");
        assert(f);
        while (getline(&line, &size, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (streq(line, "end"))
                        ended = true;
                else if (strncmp(line, "ok ", 3) == 0)
                        parent_check(true, "%s: %s", name, line + 3);
                else if (strncmp(line, "FAIL ", 5) == 0)
                        parent_check(false, "%s: %s", name, line + 5);
                else
                        parent_check(false, "%s: unexpected output: %s", name, line);
        }

        assert(waitpid(pid, &status, 0) == pid);
        ok = ended && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok)
                parent_check(false, "%s: child finished cleanly (status 0x%x)", name, (unsigned) status);
}

static bool file_owned_by(const char *dir, const char *name, uid_t uid) {
        _cleanup_free_ char *p = path_join(dir, name);
        struct stat st;

        return p && stat(p, &st) == 0 && st.st_uid == uid;
}

static void check_pong(const char *name, const Env *e) {
        char buf[8] = {};
        bool ok = read(e->pong[0], buf, sizeof(buf) - 1) == 4 && streq(buf, "pong");

        parent_check(ok, "%s: pong arrived through the kept pipe", name);
}

static bool gone(const char *path) {
        return access(path, F_OK) < 0 && errno == ENOENT;
}

/* Does our cgroup2 subtree (dir) hand the controller down to its leaves? */
static bool v2_delegates(const char *dir, const char *controller) {
        _cleanup_(strv_freep) char **l = NULL;
        _cleanup_free_ char *p = path_join(dir, "cgroup.controllers"), *v = NULL;

        assert(p);
        if (read_one_line_file(p, &v) < 0 || strv_split(v, " ", &l) < 0)
                return false;
        STRV_FOREACH (c, l)
                if (streq(*c, controller))
                        return true;
        return false;
}

static void check_limit(const char *dir, const char *file, uint64_t want) {
        _cleanup_free_ char *p = NULL, *v = NULL;
        uint64_t value = 0;

        assert(asprintf(&p, "%s/%s/%s", dir, CGROUP_LEAF, file) > 0);
        if (read_one_line_file(p, &v) >= 0)
                value = strtoull(v, NULL, 10);
        parent_check(value == want, "jail: %s is %" PRIu64 " (%s)", p, want, strempty(v));
}

/* From the outside: pong arrived, the runtime dir got the child's files, the host's /tmp did not,
 * the limits were set, and cgroup_leaf_remove() leaves nothing behind. */
static void parent_after_jail(const Env *e) {
        bool files = file_owned_by(e->runtime_dir, "sandbox-probe", e->uid) &&
                        file_owned_by(e->runtime_dir, "from-shell", e->uid);

        check_pong("jail", e);
        parent_check(files, "jail: the runtime dir holds the child's files, owned by nobody");
        parent_check(access("/tmp/sandbox-probe", F_OK) < 0,
                     "jail: the child's /tmp file is not in the host's");
        for (size_t i = 0; i < ELEMENTSOF(e->disks); i++) {
                _cleanup_free_ char *data = NULL;
                bool ok = read_full_file(e->disks[i], &data, NULL) >= 0 && streq(data, "disk");

                parent_check(ok, "jail: %s holds what the child wrote", e->disks[i]);
        }

        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                const char *dir = e->layout.dirs[k];

                if (!dir)
                        continue;
                switch (k) {
                case CGROUP_V1_MEMORY:
                        check_limit(dir, "memory.limit_in_bytes", MEMORY_MAX);
                        break;
                case CGROUP_V1_PIDS:
                        check_limit(dir, "pids.max", TASKS_MAX);
                        break;
                case CGROUP_UNIFIED:
                        if (v2_delegates(dir, "memory"))
                                check_limit(dir, "memory.max", MEMORY_MAX);
                        else
                                printf("note: %s does not delegate memory: no memory.max\n", dir);
                        if (v2_delegates(dir, "pids"))
                                check_limit(dir, "pids.max", TASKS_MAX);
                        else
                                printf("note: %s does not delegate pids: no pids.max\n", dir);
                        break;
                default:
                        break;
                }
        }

        parent_check(cgroup_leaf_remove(&e->layout, CGROUP_LEAF) == 0, "jail: cgroup_leaf_remove()");
        parent_check(cgroup_leaf_remove(&e->layout, CGROUP_LEAF) == 0, "jail: cgroup_leaf_remove() again");
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *leaf = NULL;

                if (!e->layout.dirs[k])
                        continue;
                leaf = path_join(e->layout.dirs[k], CGROUP_LEAF);
                assert(leaf);
                parent_check(gone(leaf), "jail: %s is removed", leaf);
        }
        parent_check(cgroup_leaf_remove(&e->layout, "..") == -EINVAL,
                     "jail: cgroup_leaf_remove(\"..\") is refused");
}

/* Each case writes its own probe file. */
static void reset_runtime_dir(const Env *e) {
        _cleanup_free_ char *p = path_join(e->runtime_dir, "sandbox-probe");

        assert(p);
        (void) unlink(p);
}

/* Every directory of ours the test may leave under the cgroup mounts, each leaf before its parent:
 * "<hierarchy>/<parent>/<leaf>" and "<hierarchy>/<parent>" for the cgroup root (a pure cgroup2
 * host) and, when it is not itself a cgroup2, every hierarchy mounted below it, used by the layout
 * or not. Made once, so that a signal handler can remove them too. */
static char **cgroup_leftovers;
static pid_t cgroup_owner;

static void leftovers_add(const char *hierarchy, const char *parent) {
        char *p = NULL, *l = NULL;

        assert(asprintf(&p, "%s/%s", hierarchy, parent) > 0);
        assert(asprintf(&l, "%s/%s", p, CGROUP_LEAF) > 0);
        assert(strv_push(&cgroup_leftovers, l) >= 0);
        assert(strv_push(&cgroup_leftovers, p) >= 0);
}

static void leftovers_rmdir(void) {
        for (char **p = cgroup_leftovers; p && *p; p++)
                (void) rmdir(*p);
}

/* An assert() or the test runner's timeout: leave no cgroup of ours behind all the same. */
static void leftovers_on_signal(int sig) {
        if (getpid() == cgroup_owner)
                leftovers_rmdir();
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

static void leftovers_prepare(const Env *e) {
        struct statfs sfs;

        leftovers_add(CGROUP_ROOT, e->cgroup_parent);
        if (!(statfs(CGROUP_ROOT, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)) {
                DIR *d = opendir(CGROUP_ROOT);
                struct dirent *de;

                while (d && (de = readdir(d)))
                        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
                                _cleanup_free_ char *h = path_join(CGROUP_ROOT, de->d_name);

                                assert(h);
                                leftovers_add(h, e->cgroup_parent);
                        }
                if (d)
                        closedir(d);
        }
        /* Those of the layout, should it be somewhere else. */
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                if (e->layout.dirs[k]) {
                        char *l = path_join(e->layout.dirs[k], CGROUP_LEAF), *p = strdup(e->layout.dirs[k]);

                        assert(l && p);
                        assert(strv_push(&cgroup_leftovers, l) >= 0);
                        assert(strv_push(&cgroup_leftovers, p) >= 0);
                }
        cgroup_owner = getpid();
        (void) signal(SIGABRT, leftovers_on_signal);
        (void) signal(SIGTERM, leftovers_on_signal);
        (void) signal(SIGINT, leftovers_on_signal);
}

/* The test's own leftovers: the leaf and our subtree in every hierarchy (all ours: the name is
 * unique to this run), the temp files and dir. */
static void cleanup(Env *e) {
        static const char *const files[] = { "sandbox-probe", "from-shell" };

        for (char **p = cgroup_leftovers; p && *p; p++) {
                bool existed = !gone(*p);

                (void) rmdir(*p);
                if (existed || !gone(*p))
                        parent_check(gone(*p), "cleanup: %s is gone", *p);
        }
        (void) signal(SIGABRT, SIG_DFL);
        (void) signal(SIGTERM, SIG_DFL);
        (void) signal(SIGINT, SIG_DFL);
        cgroup_leftovers = strv_free(cgroup_leftovers);
        e->cgroup_procs = strv_free(e->cgroup_procs);
        cgroup_layout_done(&e->layout);

        (void) unlink(e->tmp_marker);
        for (size_t i = 0; i < ELEMENTSOF(e->disks); i++) {
                (void) unlink(e->disks[i]);
                parent_check(gone(e->disks[i]), "cleanup: %s is gone", e->disks[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = path_join(e->runtime_dir, files[i]);

                (void) unlink(p);
        }
        (void) rmdir(e->runtime_dir);
        parent_check(gone(e->runtime_dir), "cleanup: %s is gone", e->runtime_dir);
}

/* Can this process make the namespaces the jail needs? */
static bool can_unshare(void) {
        pid_t pid = fork();
        int status;

        assert(pid >= 0);
        if (pid == 0) {
                if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
                        _exit(EXIT_FAILURE);
                _exit(EXIT_SUCCESS);
        }
        assert(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
        Env e = { .report = -EBADF, .ping = { -EBADF, -EBADF }, .pong = { -EBADF, -EBADF } };
        struct passwd *pw;
        char **procs = NULL;
        size_t n_dirs = 0;
        int fd, r;

        if (geteuid() != 0) {
                printf("SKIP: needs root\n");
                return EXIT_TEST_SKIP;
        }
        if (!can_unshare()) {
                printf("SKIP: creating namespaces is not permitted here\n");
                return EXIT_TEST_SKIP;
        }
        pw = getpwnam("nobody");
        if (!pw) {
                printf("SKIP: no user nobody\n");
                return EXIT_TEST_SKIP;
        }

        e.uid = pw->pw_uid;
        e.gid = pw->pw_gid;
        e.parent = getpid();
        e.ns_net = ns_inode("net");
        e.ns_mnt = ns_inode("mnt");
        e.ns_uts = ns_inode("uts");
        e.ns_ipc = ns_inode("ipc");

        /* Under /tmp on purpose: the jail's fresh /tmp hides it, sandbox_enter() must bind it back. */
        strcpy(e.runtime_dir, "/tmp/test-sandbox-XXXXXX");
        assert(mkdtemp(e.runtime_dir));
        if (chown(e.runtime_dir, e.uid, e.gid) < 0) {
                /* In a user namespace without a mapping for nobody. */
                printf("SKIP: cannot hand %s to nobody (%m)\n", e.runtime_dir);
                (void) rmdir(e.runtime_dir);
                return EXIT_TEST_SKIP;
        }
        assert(chmod(e.runtime_dir, 0700) == 0);
        (void) snprintf(e.tmp_marker, sizeof(e.tmp_marker), "/tmp/test-sandbox-marker-%d", (int) e.parent);
        fd = open(e.tmp_marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert(fd >= 0);
        close(fd);
        strcpy(e.disks[0], "/var/tmp/test-sandbox-disk-XXXXXX");
        strcpy(e.disks[1], "/tmp/test-sandbox-disk-XXXXXX");
        for (size_t i = 0; i < ELEMENTSOF(e.disks); i++) {
                fd = mkstemp(e.disks[i]);
                assert(fd >= 0);
                assert(fchown(fd, e.uid, e.gid) == 0);
                close(fd);
        }

        /* The daemon's side: our subtree in every hierarchy, and the instance's leaf in it. */
        (void) snprintf(e.cgroup_parent, sizeof(e.cgroup_parent), "cfhr-test-sandbox-%d", (int) e.parent);
        r = cgroup_layout_init(&e.layout, CGROUP_ROOT, e.cgroup_parent);
        leftovers_prepare(&e);
        parent_check(r == 0, "cgroup_layout_init(%s, %s) (%d)", CGROUP_ROOT, e.cgroup_parent, r);
        printf("# cgroup layout: %s, kill: %s\n",
               cgroup_layout_name(&e.layout),
               cgroup_layout_kill_method(&e.layout));
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                if (e.layout.dirs[k])
                        printf("# %s: %s\n",
                               *kind_controller[k] ? kind_controller[k] : "cgroup2",
                               e.layout.dirs[k]);
                n_dirs += !!e.layout.dirs[k];
        }
        r = cgroup_leaf_create(&e.layout, CGROUP_LEAF, MEMORY_MAX, TASKS_MAX, &e.cgroup_procs);
        parent_check(r == 0, "cgroup_leaf_create(%s) (%d)", CGROUP_LEAF, r);
        parent_check(strv_length(e.cgroup_procs) == n_dirs,
                     "a cgroup.procs for each of the %zu hierarchies (%zu)",
                     n_dirs,
                     strv_length(e.cgroup_procs));
        r = cgroup_leaf_create(&e.layout, "..", MEMORY_MAX, TASKS_MAX, &procs);
        parent_check(r == -EINVAL && !procs, "cgroup_leaf_create(\"..\") is refused (%d)", r);
        procs = strv_free(procs);

        env_pipes(&e);
        run_child("jail", child_jail, &e);
        parent_after_jail(&e);
        env_close_pipes(&e);

        reset_runtime_dir(&e);
        env_pipes(&e);
        run_child("light profile", child_light, &e);
        check_pong("light profile", &e);
        env_close_pipes(&e);

        reset_runtime_dir(&e);
        run_child("without mount_setattr", child_old_kernel, &e);
        run_child("errors", child_errors, &e);
        run_child("seccomp alone", child_seccomp, &e);
        {
                SeccompProgram prog = {};
                int rc = sandbox_seccomp_compile(&prog);

                if (rc < 0) {
                        fprintf(stderr, "sandbox_seccomp_compile(): %s\n", strerror(-rc));
                        parent_failed++;
                } else {
                        compiled_filter = &prog;
                        run_child("seccomp compiled ahead", child_seccomp, &e);
                        compiled_filter = NULL;
                        sandbox_seccomp_program_done(&prog);
                }
        }

        cleanup(&e);
        printf("%s: %u failed\n", parent_failed ? "FAIL" : "PASS", parent_failed);
        return parent_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
