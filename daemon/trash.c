/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/trash.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/time-util.h"

DEFINE_CLEANUP(DIR *, closedir);

#define TRASH_PREFIX ".trash-"

typedef struct TrashJob TrashJob;

struct TrashJob {
        Trash *trash;
        TrashJob *next;
        char *path;
        pid_t pid;
        int pidfd;
        sd_event_source *source;
};

struct Trash {
        sd_event *event;
        char *dir;
        TrashJob *jobs;
        void (*idle)(void *userdata);
        void *userdata;
};

static TrashJob *job_free(TrashJob *j) {
        if (!j)
                return NULL;
        sd_event_source_disable_unref(j->source);
        safe_close(j->pidfd);
        free(j->path);
        return mfree(j);
}

int trash_new(sd_event *e, const char *dir, void (*idle)(void *userdata), void *userdata, Trash **ret) {
        Trash *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *t = (Trash){ .event = sd_event_ref(e), .dir = strdup(dir), .idle = idle, .userdata = userdata };
        if (!t->dir) {
                trash_free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

/* The children go on deleting without us: a daemon restart does not wait for them. */
Trash *trash_free(Trash *t) {
        if (!t)
                return NULL;
        while (t->jobs) {
                TrashJob *j = t->jobs;

                t->jobs = j->next;
                job_free(j);
        }
        sd_event_unref(t->event);
        free(t->dir);
        return mfree(t);
}

bool trash_pending(const Trash *t) {
        return t && t->jobs;
}

static void job_unlink(TrashJob *j) {
        for (TrashJob **p = &j->trash->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

static int on_job_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        TrashJob *j = userdata;
        Trash *t = j->trash;
        siginfo_t si = {};

        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        if (si.si_code != CLD_EXITED || si.si_status != 0)
                log_warning("Could not delete all of %s (see the line above); the next daemon start tries again.",
                            j->path);
        else
                log_debug("Deleted %s.", j->path);
        job_unlink(j);
        job_free(j);
        if (!t->jobs && t->idle)
                t->idle(t->userdata);
        return 0;
}

static _noreturn_ void job_child(const char *path) {
        int r;

        (void) setpriority(PRIO_PROCESS, 0, 10);
        r = rm_rf(path);
        if (r < 0) {
                fprintf(stderr, "Failed to delete %s: %s\n", path, strerror(-r));
                _exit(EXIT_FAILURE);
        }
        _exit(EXIT_SUCCESS);
}

static int job_start(Trash *t, char *path) {
        _cleanup_free_ char *p = path;
        TrashJob *j;
        pid_t pid;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (TrashJob){ .trash = t, .path = TAKE_PTR(p), .pidfd = -EBADF };
        /* Nothing of the daemon's (the bus, the runtime dir's lock) stays open in the child. */
        r = safe_fork("trash", FORK_CLOSE_ALL_FDS, &pid);
        if (r < 0) {
                job_free(j);
                return r;
        }
        if (r == 0)
                job_child(j->path);
        j->pid = pid;
        j->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (j->pidfd < 0)
                r = -errno;
        else
                r = sd_event_add_io(t->event, &j->source, j->pidfd, EPOLLIN, on_job_exit, j);
        if (r < 0) {
                /* Cannot watch it: let it finish on its own (init reaps it once we exit). */
                job_free(j);
                return r;
        }
        j->next = t->jobs;
        t->jobs = j;
        return 0;
}

int trash_add(Trash *t, const char *path) {
        _cleanup_free_ char *target = NULL;
        const char *base = strrchr(path, '/');

        if (access(path, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (asprintf(&target,
                     "%s/" TRASH_PREFIX "%s-%llu",
                     t->dir,
                     base ? base + 1 : path,
                     (unsigned long long) now_usec(CLOCK_REALTIME)) < 0)
                return -ENOMEM;
        if (rename(path, target) < 0) {
                log_warning("Cannot move %s out of the way (%m); deleting it in place.", path);
                free(target);
                target = strdup(path);
                if (!target)
                        return -ENOMEM;
        }
        return job_start(t, TAKE_PTR(target));
}

int trash_collect(Trash *t) {
        _cleanup_(closedirp) DIR *d = opendir(t->dir);
        struct dirent *de;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char *p;

                if (strncmp(de->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) != 0)
                        continue;
                p = path_join(t->dir, de->d_name);
                if (!p)
                        return -ENOMEM;
                log_info("Deleting %s, left by an earlier run.", p);
                r = job_start(t, p);
                if (r < 0)
                        return r;
        }
        return 0;
}
