/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/fs-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/socket-util.h"
#include "common/strv.h"
#include "daemon/backend.h"
#include "daemon/instance-spawn.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "daemon/network.h"
#include "daemon/reap.h"
#include "daemon/scope.h"
#include "netsetup/tap.h"
#include "vmm/cgroup.h"
#include "vmm/sandbox.h"

/* What a failing child writes to its report pipe before it exits. */
typedef struct SpawnReport {
        int error;
        char step[64];
        char detail[256];
} SpawnReport;

void spawn_plan_done(SpawnPlan *p) {
        free(p->exe);
        strv_free(p->argv);
        strv_free(p->env);
        free(p->disk_dir);
        strv_free(p->overlays);
        strv_free(p->overlay_bases);
        free(p->qemu_img);
        for (size_t k = 0; k < p->n_fds; k++)
                safe_close(p->fds[k]);
        *p = (SpawnPlan){};
}

bool instance_spawn_running(const Instance *i) {
        return i->spawn.pid > 0;
}

/* A new instance gets a new directory: whatever is at its path (a directory an earlier instance
 * could not have deleted, still open in some process of its owner) is moved away first, never
 * handed over. Restarts keep theirs (console.log spans runs). */
static int spawn_make_runtime_dir(Instance *i) {
        if (i->dir_fresh)
                return mkdir(i->runtime_dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
        if (mkdir(i->runtime_dir, 0700) < 0) {
                if (errno != EEXIST)
                        return -errno;
                instance_log(i, LOG_NOTICE, "%s exists already; moving it away", i->runtime_dir);
                manager_trash_dir(i->manager, i->runtime_dir);
                if (mkdir(i->runtime_dir, 0700) < 0)
                        return -errno;
        }
        i->dir_fresh = true;
        return 0;
}

static int spawn_prepare_dirs(Instance *i) {
        _cleanup_free_ char *parent = path_join(manager_runtime_dir(i->manager), "instances");
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        /* instances/ lets owners through to their own directory; each of those is private. */
        if (!parent)
                return -ENOMEM;
        r = mkdir_p(parent, 0755);
        if (r < 0)
                return r;
        r = spawn_make_runtime_dir(i);
        if (r < 0)
                return r;
        /* The owner's VMM writes here (console, QMP socket); nobody else may read it. */
        if (chown(i->runtime_dir, i->owner, i->owner_gid) < 0 || chmod(i->runtime_dir, 0700) < 0)
                return -errno;
        (void) unlink(i->control_path);
        fd = open(i->console_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        /* Only chown what is ours: a regular file with one link (not a hard link to elsewhere). */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
                return -EPERM;
        if (fchown(fd, i->owner, i->owner_gid) < 0)
                return -errno;
        return 0;
}

/* Attaches to the slot's taps and gives them to the owner: while the instance holds the slot they
 * are the owner's alone (group root, so other cvdnetwork members cannot attach). ret_fds NULL:
 * only change the owner, hold nothing (a VMM that opens them by name). */
int instance_open_taps(Instance *i, int *ret_fds, char **ret_error) {
        int fds[INSTANCE_NICS] = { -EBADF, -EBADF, -EBADF };
        int r = 0;

        for (size_t k = 0; k < INSTANCE_NICS && r >= 0; k++) {
                r = tap_open(i->taps[k], &fds[k]);
                if (r < 0) {
                        (void) asprintf(ret_error,
                                        "%s: %s",
                                        i->taps[k],
                                        r == -EBUSY ? "held by another process (a VMM or launch_cvd started by hand?)"
                                                        : r == -ENODEV ? "missing; run 'cfctl network up'"
                                                                       : strerror(-r));
                        break;
                }
                /* The kernel lets a process attach only if it is the owner AND in the group: with
                 * fds handed over, group root shuts everyone else out; a VMM attaching by name
                 * (launch_cvd) needs a group its owner is in, their own. */
                r = tap_set_owner(fds[k], i->owner, ret_fds ? 0 : i->owner_gid);
                if (r < 0)
                        (void) asprintf(ret_error, "%s: cannot set owner: %s", i->taps[k], strerror(-r));
        }
        for (size_t k = 0; k < INSTANCE_NICS; k++)
                if (r < 0 || !ret_fds)
                        safe_close(fds[k]);
                else
                        ret_fds[k] = fds[k];
        return r;
}

/* The control socket, bound by the daemon at the control path with the owner's file-system
 * identity (theirs, in their directory, made with their rights) and handed to the VMM, which
 * listens on it from before its exec. */
int instance_plan_control_socket(Instance *i, SpawnPlan *p, int type, char **ret_error) {
        int fd, r;

        assert(p->n_fds + 1 < SPAWN_FDS_MAX);
        r = unix_socket_bind_as(i->control_path, type, i->owner, i->owner_gid, &fd);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "cannot make the control socket %s: %s",
                                i->control_path,
                                r == -EADDRINUSE ? "something else is at that path" : strerror(-r));
                return r;
        }
        p->listen_fd = 3 + (int) p->n_fds;
        p->fds[p->n_fds++] = fd;
        return 0;
}

/* The child side. */

static _noreturn_ void child_fail(int fd, int error, const char *step, const char *detail) {
        SpawnReport e = { .error = error };

        (void) snprintf(e.step, sizeof(e.step), "%s", step);
        (void) snprintf(e.detail, sizeof(e.detail), "%s", strempty(detail));
        (void) !write(fd, &e, sizeof(e));
        _exit(EXIT_FAILURE);
}

typedef struct SpawnChild {
        const SpawnPlan *plan;
        char **writable; /* the disks and the disk directory */
        char **cgroup_procs;
        int console;
        int report_fd;
        int go_fd; /* scope mode; -EBADF: not */
        bool seccomp;
        const SeccompProgram *seccomp_program;
} SpawnChild;

/* Paths the caller gave are checked as the caller, after the sandbox, never by the daemon. */
static void child_check_paths(const Instance *i, const SpawnPlan *plan, int fd) {
        if (i->spec.kernel && access(i->spec.kernel, R_OK) < 0)
                child_fail(fd, errno, "kernel", i->spec.kernel);
        if (i->spec.initrd && access(i->spec.initrd, R_OK) < 0)
                child_fail(fd, errno, "initrd", i->spec.initrd);
        STRV_FOREACH (d, i->spec.disks)
                if (access(*d, R_OK | W_OK) < 0)
                        child_fail(fd, errno, "disk", *d);
        STRV_FOREACH (d, i->spec.images)
                if (access(*d, R_OK) < 0)
                        child_fail(fd, errno, "image", *d);
        if (plan->check_dir && access(plan->check_dir, R_OK | X_OK) < 0)
                child_fail(fd, errno, "directory", plan->check_dir);
        if (plan->check_exe && access(plan->argv[0], X_OK) < 0)
                child_fail(fd, errno, "executable", plan->argv[0]);
        if (plan->cwd && chdir(plan->cwd) < 0)
                child_fail(fd, errno, "chdir", plan->cwd);
}

/* "QFI\xfb": qcow2; anything else is taken as raw. Read as the owner, in the child. */
static const char *image_format(const char *path) {
        unsigned char magic[4] = {};
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd >= 0) {
                (void) !read(fd, magic, sizeof(magic));
                close(fd);
        }
        return memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* The instance's overlays, made by qemu-img as the owner inside the sandbox when missing (first
 * start, or after Reset()); kept otherwise: they are the guest's data. Its output goes to the
 * console log. */
static void child_make_overlays(const SpawnPlan *plan, int report_fd) {
        for (size_t k = 0; plan->overlays && plan->overlays[k]; k++) {
                const char *argv[] = { plan->qemu_img,
                                       "create",
                                       "-q",
                                       "-f",
                                       "qcow2",
                                       "-F",
                                       image_format(plan->overlay_bases[k]),
                                       "-b",
                                       plan->overlay_bases[k],
                                       plan->overlays[k],
                                       NULL };
                int status = 0;
                pid_t pid;

                if (access(plan->overlays[k], F_OK) >= 0)
                        continue;
                pid = fork();
                if (pid < 0)
                        child_fail(report_fd, errno, "overlay", plan->overlays[k]);
                if (pid == 0) {
                        execv(argv[0], (char **) argv);
                        _exit(127);
                }
                if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        child_fail(report_fd,
                                   WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ENOENT : EIO,
                                   "overlay",
                                   plan->overlays[k]);
        }
}

static _noreturn_ void spawn_child(const Instance *i, SpawnChild *c) {
        const SpawnPlan *plan = c->plan;
        const char *step = NULL;
        bool in_scope = false;
        SandboxSpec sb;
        int r;

        if (c->go_fd >= 0) {
                char how = 0;

                if (read(c->go_fd, &how, 1) != 1)
                        child_fail(c->report_fd, EPIPE, "scope", NULL);
                in_scope = how == 'S';
                safe_close(c->go_fd);
        }
        sb = (SandboxSpec){
                .uid = i->owner,
                .gid = i->owner_gid,
                .groups = i->groups,
                .n_groups = i->n_groups,
                .runtime_dir = i->runtime_dir,
                .cgroup_procs = in_scope ? NULL : (const char *const *) c->cgroup_procs,
                .keep_fds = plan->fds,
                .n_keep_fds = plan->n_fds,
                .stdout_fd = c->console,
                /* Where the report pipe is at each step: a guessed number could hit a tap. */
                .report_fd = &c->report_fd,
                .new_netns = plan->new_netns,
                /* Disks stay writable inside the read-only system; the uid's own permissions
                 * still decide. */
                .writable_paths = (const char *const *) c->writable,
                .seccomp = c->seccomp,
                .seccomp_program = c->seccomp_program,
        };
        r = sandbox_enter(&sb, &step);
        if (r < 0)
                child_fail(c->report_fd, -r, step ?: "sandbox", NULL);
        /* The control socket the daemon bound as the owner: listening from here on, so the daemon
         * connects as soon as exec is reported; the VMM itself is the peer it sees (SO_PEERCRED). */
        if (plan->listen_fd > 0 && listen(plan->listen_fd, SOMAXCONN) < 0)
                child_fail(c->report_fd, errno, "listen", i->control_path);
        child_check_paths(i, plan, c->report_fd);
        child_make_overlays(plan, c->report_fd);
        if (plan->env)
                execve(plan->argv[0], plan->argv, plan->env);
        else
                execv(plan->argv[0], plan->argv);
        child_fail(c->report_fd, errno, "exec", plan->argv[0]);
}

/* The parent side. */

static void spawn_reset(Instance *i) {
        i->spawn.report_source = sd_event_source_disable_unref(i->spawn.report_source);
        i->spawn.report_fd = safe_close(i->spawn.report_fd);
        i->spawn.go_fd = safe_close(i->spawn.go_fd);
        i->spawn.scope = scope_free(i->spawn.scope);
        i->spawn.pid = 0;
}

void instance_spawn_abandon(Instance *i) {
        pid_t pid = i->spawn.pid;

        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        spawn_reset(i);
        if (reap_child_detached(i->manager->event, pid) < 0)
                (void) waitpid(pid, NULL, WNOHANG);
}

static void spawn_go(Instance *i, char how) {
        if (i->spawn.go_fd < 0)
                return;
        if (how != 'S')
                i->scope = mfree(i->scope);
        (void) !write(i->spawn.go_fd, &how, 1);
        i->spawn.go_fd = safe_close(i->spawn.go_fd);
}

static void on_scope_ready(Scope *s, bool in_scope, const char *why, void *userdata) {
        Instance *i = userdata;

        i->spawn.scope = scope_free(i->spawn.scope);
        if (!in_scope)
                instance_log(i, LOG_NOTICE, "scope %s: %s; using the cgroupfs subtree", i->scope, why);
        spawn_go(i, in_scope ? 'S' : 'C');
}

/* Scope mode: the child waits for one byte before its sandbox. 'S': systemd has put it in its
 * transient scope; 'C': no scope (systemd refused, or is not on this bus): it joins our cgroupfs
 * subtree itself. EOF: the spawn was abandoned. */
static void spawn_ask_for_scope(Instance *i, pid_t pid, uint64_t memory_max, uint64_t tasks_max) {
        _cleanup_free_ char *description = NULL;
        int r = -ENOMEM;

        free(i->scope);
        if (asprintf(&i->scope, "cuttlefish-instance-%u-%i.scope", i->number, (int) pid) >= 0 &&
            asprintf(&description, "Cuttlefish instance %u of uid %u", i->number, (unsigned) i->owner) >= 0)
                r = scope_start(i->manager->bus,
                                i->manager->event,
                                i->scope,
                                description,
                                pid,
                                memory_max,
                                tasks_max,
                                on_scope_ready,
                                i,
                                &i->spawn.scope);
        if (r < 0) {
                instance_log(i,
                             LOG_NOTICE,
                             "cannot ask systemd for a scope: %s; using the cgroupfs subtree",
                             strerror(-r));
                spawn_go(i, 'C');
        }
}

static void spawn_finish(Instance *i, const SpawnReport *se, const char *failure) {
        _cleanup_free_ char *e = NULL;
        pid_t pid = i->spawn.pid;

        spawn_reset(i);
        if (!se && !failure) {
                instance_notify_spawned(i, pid);
                return;
        }
        /* The child exits right after reporting: reaped in the background. */
        if (reap_child_detached(i->manager->event, pid) < 0)
                (void) waitpid(pid, NULL, WNOHANG);
        if (se && se->detail[0])
                (void) asprintf(&e, "%s %s: %s", se->step, se->detail, strerror(se->error));
        else if (se)
                (void) asprintf(&e, "sandbox step %s: %s", se->step, strerror(se->error));
        else
                e = strdup(failure);
        i->scope = mfree(i->scope);
        e = escape_nonprintable(TAKE_PTR(e));
        instance_notify_spawn_failed(i, e ?: "out of memory");
}

static int on_spawn_report(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        SpawnReport se = {};
        ssize_t n;

        n = read(fd, &se, sizeof(se));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n == (ssize_t) sizeof(se)) {
                se.step[sizeof(se.step) - 1] = se.detail[sizeof(se.detail) - 1] = 0;
                spawn_finish(i, &se, NULL);
        } else if (n == 0)
                spawn_finish(i, NULL, NULL);
        else
                spawn_finish(i, NULL, "the starting VMM reported garbage");
        return 0;
}

/* The runtime dir, the plan, the console and the cgroup leaf: everything the child needs. */
static int spawn_prepare(
                Instance *i, SpawnPlan *plan, char ***ret_procs, int *ret_console, char **ret_error) {
        _cleanup_close_ int console = -EBADF;
        char leaf[32];
        int r;

        r = spawn_prepare_dirs(i);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot prepare %s: %s", i->runtime_dir, strerror(-r));
                return r;
        }
        r = i->ops->plan(i, plan, ret_error);
        if (r < 0)
                return r;
        assert(plan->argv && plan->argv[0] && plan->n_fds < SPAWN_FDS_MAX);
        console = console_log_open(&i->console, O_WRONLY);
        if (console < 0) {
                (void) asprintf(ret_error, "cannot open %s: %s", i->console_log, strerror(-console));
                return console;
        }
        console_watch_new_run(&i->console, console);
        /* A fresh leaf, made here by root; the child only joins it. One that still holds a task is
         * never reused (the slot's allocation checks that before anyone gets it). Where systemd
         * runs the host it owns the cgroup tree: the VMM goes into a transient scope instead. */
        r = instance_leaf_name(i->number, leaf, sizeof(leaf));
        if (r >= 0 && !manager_use_scopes(i->manager))
                r = cgroup_leaf_create(
                                manager_cgroups(i->manager),
                                leaf,
                                ((uint64_t) i->spec.memory_mb + plan->memory_overhead_mb) * 1024 * 1024,
                                plan->tasks_max,
                                ret_procs);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "cannot make cgroup %s: %s",
                                leaf,
                                r == -EBUSY ? "processes of an earlier instance are still in it"
                                            : strerror(-r));
                return r;
        }
        *ret_console = TAKE_FD(console);
        return 0;
}

static int spawn_fork(Instance *i, SpawnChild *c, int *report_pipe, int *go_pipe, pid_t *ret_pid) {
        pid_t pid;
        int r;

        if (pipe2(report_pipe, O_CLOEXEC) < 0)
                return -errno;
        if (manager_use_scopes(i->manager) && pipe2(go_pipe, O_CLOEXEC) < 0)
                return -errno;
        /* No death signal: a VMM outlives a daemon restart (KillMode=process). Fds, signals and the
         * session are the sandbox's steps (vmm/sandbox.c), in its order. */
        r = safe_fork("VMM", FORK_LOG, &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                c->report_fd = report_pipe[1];
                c->go_fd = go_pipe[0];
                safe_close(go_pipe[1]);
                spawn_child(i, c);
        }
        *ret_pid = pid;
        return 0;
}

int (*instance_spawn_hook)(Instance *i, char **ret_error) = NULL;

int instance_spawn(Instance *i, char **ret_error) {
        _cleanup_(spawn_plan_done) SpawnPlan plan = {};
        _cleanup_(strv_freep) char **cgroup_procs = NULL, **writable = NULL;
        _cleanup_close_ int console = -EBADF;
        _cleanup_close_pair_ int report_pipe[2] = { -EBADF, -EBADF }, go_pipe[2] = { -EBADF, -EBADF };
        SpawnChild child;
        pid_t pid = 0;
        int r;

        if (instance_spawn_hook)
                return instance_spawn_hook(i, ret_error);
        if (!i->ops) {
                (void) asprintf(ret_error,
                                "backend %s is not available yet; use qemu",
                                backend_to_string(i->spec.backend));
                return -EOPNOTSUPP;
        }
        r = spawn_prepare(i, &plan, &cgroup_procs, &console, ret_error);
        if (r < 0)
                return r;
        /* Writable inside the read-only system: the disks, and the overlays' directory. */
        r = 0;
        STRV_FOREACH (d, i->spec.disks)
                if (r >= 0)
                        r = strv_push(&writable, strdup(*d));
        if (r >= 0 && plan.disk_dir)
                r = strv_push(&writable, strdup(plan.disk_dir));
        if (r >= 0 && strv_length(writable) != strv_length(i->spec.disks) + !!plan.disk_dir)
                r = -ENOMEM; /* (a strdup() failed: pushed as the end) */
        if (r < 0) {
                (void) asprintf(ret_error, "out of memory");
                return r;
        }
        child = (SpawnChild){
                .plan = &plan,
                .writable = writable,
                .cgroup_procs = cgroup_procs,
                .console = console,
                .seccomp = plan.seccomp && manager_vmm_seccomp(i->manager),
        };
        if (child.seccomp)
                child.seccomp_program = manager_seccomp_program(i->manager);
        r = spawn_fork(i, &child, report_pipe, go_pipe, &pid);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot start the VMM's child: %s", strerror(-r));
                return r;
        }

        /* The child reports through the pipe: EOF means exec happened (the pipe was close-on-
         * exec), a record means it failed. It runs as the caller and may touch the caller's paths
         * (a stalled mount), so it is waited for in the event loop, bounded, not here. */
        i->spawn.pid = pid;
        i->spawn.report_fd = TAKE_FD(report_pipe[0]);
        i->spawn.go_fd = TAKE_FD(go_pipe[1]);
        i->spawn.note = plan.note;
        free(i->exe);
        i->exe = strdup(plan.argv[0]);
        report_pipe[1] = safe_close(report_pipe[1]);
        r =
                        sd_event_add_io(i->manager->event,
                                        &i->spawn.report_source,
                                        i->spawn.report_fd,
                                        EPOLLIN,
                                        on_spawn_report,
                                        i);
        if (r < 0) {
                instance_spawn_abandon(i);
                (void) asprintf(ret_error, "cannot watch the starting VMM: %s", strerror(-r));
                return r;
        }
        if (i->spawn.go_fd >= 0)
                spawn_ask_for_scope(
                                i,
                                pid,
                                ((uint64_t) i->spec.memory_mb + plan.memory_overhead_mb) * 1024 * 1024,
                                plan.tasks_max);
        return 0;
}

void instance_kill_tree(Instance *i) {
        char leaf[32];

        /* Everything the VMM started (launch_cvd's run_cvd and helpers, crosvm's jails, whatever a
         * guest-facing helper forked and detached) dies with it: its scope, or our leaf. */
        if (i->scope) {
                if (i->manager->bus)
                        (void) scope_kill(i->manager->bus, i->scope, SIGKILL);
                return;
        }
        if (instance_leaf_name(i->number, leaf, sizeof(leaf)) >= 0)
                (void) cgroup_leaf_kill(manager_cgroups(i->manager), leaf);
}

/* Back to the pool. A tap's owner cannot be unset, so the taps are deleted and the network
 * reconcile creates them again as the pool's (group cvdnetwork, no owner), usable by a launch_cvd
 * run by hand as before the instance took the slot. */
static void instance_release_taps(Instance *i) {
        Network *n = manager_network(i->manager);
        char *names[INSTANCE_NICS];
        size_t n_names = 0;
        int r;

        for (size_t k = 0; k < INSTANCE_NICS; k++)
                if (i->taps[k][0] && if_nametoindex(i->taps[k]) > 0)
                        names[n_names++] = i->taps[k];
        if (n_names == 0 || !n)
                return;
        r = network_recycle_taps(n, names, n_names);
        if (r >= 0)
                return;
        /* No netlink: at least make them the group's again (root stays their owner). */
        instance_log(i, LOG_DEBUG, "cannot recycle the taps (%s); resetting their owner", strerror(-r));
        for (size_t k = 0; k < n_names; k++) {
                r = tap_reset_owner(names[k], network_tap_group(n));
                if (r < 0 && r != -ENODEV)
                        instance_log(i,
                                     LOG_DEBUG,
                                     "could not reset owner of %s: %s",
                                     names[k],
                                     strerror(-r));
        }
}

void instance_release(Instance *i) {
        char leaf[32];

        instance_spawn_abandon(i);
        instance_control_abort(i);
        if (instance_is_active(i)) {
                /* Remove() waits for the VMM to be gone; this is the daemon giving up on it. */
                instance_log(i, LOG_WARNING, "VMM still runs at release; killing it without waiting");
                (void) instance_signal(i, SIGKILL);
                instance_kill_tree(i);
        }
        instance_release_taps(i);
        if (!i->scope && instance_leaf_name(i->number, leaf, sizeof(leaf)) >= 0)
                (void) cgroup_leaf_remove(manager_cgroups(i->manager), leaf);
        /* Everything the VMM left there (console, sockets, launch_cvd's home and tmp): out of the
         * slot's way now, deleted in the background. */
        if (i->runtime_dir)
                manager_trash_dir(i->manager, i->runtime_dir);
}
