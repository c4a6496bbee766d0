/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>

#include "daemon/reap.h"
#include "common/macro.h"
#include "common/time-util.h"

/* cgroup v1 has no "empty" event: look again this often (tasks killed with SIGKILL are usually
 * gone within a millisecond or two), with an accuracy to match. */
#define REAP_RECHECK_USEC (10 * USEC_PER_MSEC)
#define REAP_ACCURACY_USEC (1 * USEC_PER_MSEC)

struct Reap {
        const CgroupLayout *layout;
        char *leaf;
        uint64_t deadline;
        ReapDone done;
        void *userdata;
        sd_event_source *timer_source;
        sd_event_source *events_source; /* inotify on the unified leaf's cgroup.events */
};

bool reap_leaf_empty(const CgroupLayout *l, const char *leaf) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;

        return cgroup_leaf_pids(l, leaf, &pids, &n) >= 0 && n == 0;
}

Reap *reap_free(Reap *r) {
        if (!r)
                return NULL;
        sd_event_source_disable_unref(r->timer_source);
        sd_event_source_disable_unref(r->events_source);
        free(r->leaf);
        return mfree(r);
}

static void reap_finish(Reap *r, int result, const char *leftovers) {
        r->timer_source = sd_event_source_disable_unref(r->timer_source);
        r->events_source = sd_event_source_disable_unref(r->events_source);
        r->done(r, result, leftovers, r->userdata);
}

/* Empty: remove the leaf and report. Not yet: another round, or give up at the deadline. */
static int reap_check(Reap *r) {
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_free_ char *what = NULL;
        size_t n = 0;
        int q;

        q = cgroup_leaf_pids(r->layout, r->leaf, &pids, &n);
        if (q < 0) {
                reap_finish(r, q, NULL);
                return 0;
        }
        if (n == 0) {
                /* A task can linger a moment after it left cgroup.procs; the leaf goes with it,
                 * or with the next cgroup_leaf_create() of this slot. */
                (void) cgroup_leaf_remove(r->layout, r->leaf);
                reap_finish(r, 0, NULL);
                return 0;
        }
        if (now_usec(CLOCK_MONOTONIC) >= r->deadline) {
                what = cgroup_pids_describe(pids, n, 8);
                reap_finish(r, -ETIMEDOUT, what);
                return 0;
        }
        (void) cgroup_leaf_kill(r->layout, r->leaf);
        return 1;
}

static int on_reap_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Reap *r = userdata;
        uint64_t next;

        if (reap_check(r) == 0)
                return 0;
        /* cgroup2: cgroup.events tells; the timer is only the bound from now on. */
        next = r->events_source ? r->deadline
                                : MIN(now_usec(CLOCK_MONOTONIC) + REAP_RECHECK_USEC, r->deadline);
        (void) sd_event_source_set_time(r->timer_source, next);
        (void) sd_event_source_set_enabled(r->timer_source, SD_EVENT_ONESHOT);
        return 0;
}

static int on_reap_events(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        (void) reap_check(userdata);
        return 0;
}

int reap_start(sd_event *e,
               const CgroupLayout *l,
               const char *leaf,
               uint64_t timeout_usec,
               ReapDone done,
               void *userdata,
               Reap **ret) {
        _cleanup_(reap_freep) Reap *r = NULL;
        _cleanup_free_ char *events = NULL;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int q;

        *ret = NULL;
        if (reap_leaf_empty(l, leaf)) {
                (void) cgroup_leaf_remove(l, leaf);
                return 0;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (Reap){
                .layout = l,
                .leaf = strdup(leaf),
                .deadline = now + timeout_usec,
                .done = done,
                .userdata = userdata,
        };
        if (!r->leaf)
                return -ENOMEM;
        q = cgroup_leaf_kill(l, leaf);
        if (q < 0)
                return q;
        /* cgroup2: told when the leaf empties. The first check comes soon in any case: the leaf
         * may have emptied before the watch existed. */
        events = l->unified_kill ? cgroup_leaf_events_path(l, leaf) : NULL;
        if (events)
                (void) sd_event_add_inotify(e, &r->events_source, events, IN_MODIFY, on_reap_events, r);
        q = sd_event_add_time(
                        e,
                        &r->timer_source,
                        CLOCK_MONOTONIC,
                        now + REAP_RECHECK_USEC,
                        REAP_ACCURACY_USEC,
                        on_reap_timer,
                        r);
        if (q < 0)
                return q;
        *ret = TAKE_PTR(r);
        return 1;
}

static int on_detached_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        /* sd-event has reaped it. A floating source lives as long as the loop: dropping the
         * loop's reference (set_floating false) frees it now, with the pidfd it holds (else every
         * detached child would keep one open). sd-event allows this inside the callback. */
        (void) sd_event_source_set_floating(s, false);
        return 0;
}

int reap_child_detached(sd_event *e, pid_t pid) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
        int r;

        if (pid <= 0)
                return 0;
        r = sd_event_add_child(e, &s, pid, WEXITED, on_detached_exit, NULL);
        if (r < 0)
                return r;
        return sd_event_source_set_floating(s, true);
}
