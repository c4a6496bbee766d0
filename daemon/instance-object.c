/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An Instance's allocation, paths, small accessors and end; the state machine is instance.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/bus-api.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/time-util.h"
#include "daemon/backend.h"
#include "daemon/instance-bus.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "daemon/reap.h"
#include "netsetup/plan.h"

#define STOP_TIMEOUT_DEFAULT_SEC 10

static int instance_control_path(Instance *i) {
        /* Each backend's control socket, under the runtime dir: QMP, crosvm's --socket, and
         * launch_cvd's monitor under its TMPDIR (vmm/cvd.h). */
        if (i->ops && i->ops->control_path)
                return i->ops->control_path(i, &i->control_path);
        return asprintf(&i->control_path, "%s/control.sock", i->runtime_dir) < 0 ? -ENOMEM : 0;
}

static int instance_init_paths(Instance *i, unsigned number) {
        static const TapKind kinds[INSTANCE_NICS] = { TAP_ETHERNET, TAP_WIFI, TAP_MOBILE };

        for (size_t k = 0; k < INSTANCE_NICS; k++) {
                uint8_t mac[6];

                (void) slot_tap_name(number, kinds[k], i->taps[k]);
                (void) slot_guest_mac(number, kinds[k], mac);
                mac_to_string(mac, i->macs[k]);
        }
        if (!(i->object_path = cf_instance_path(number)) ||
            asprintf(&i->runtime_dir, "%s/instances/%u", manager_runtime_dir(i->manager), number) < 0 ||
            asprintf(&i->console_log, "%s/console.log", i->runtime_dir) < 0 ||
            asprintf(&i->home_dir, "%s/home", i->runtime_dir) < 0 ||
            asprintf(&i->tmp_dir, "%s/tmp", i->runtime_dir) < 0)
                return -ENOMEM;
        if (console_watch_init(&i->console, i->console_log, i->owner) < 0)
                return -ENOMEM;
        return instance_control_path(i);
}

int instance_new(
                Manager *m,
                unsigned number,
                uid_t owner,
                gid_t gid,
                const gid_t *groups,
                size_t n_groups,
                InstanceSpec *spec,
                Instance **ret) {
        _cleanup_(instance_freep) Instance *i = NULL;
        int r;

        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        *i = (Instance){
                .manager = m,
                .ops = backend_ops(spec->backend),
                .number = number,
                .owner = owner,
                .owner_gid = gid,
                .pidfd = -EBADF,
                .spawn = INSTANCE_SPAWN_NULL,
                .control = INSTANCE_CONTROL_NULL,
                .sub = INSTANCE_SUB_NEW,
                .state = INSTANCE_CREATING,
                .reason = REASON_REQUESTED,
                .result = _INSTANCE_REASON_INVALID,
                .vsock_cid = slot_vsock_cid(number),
                .created_realtime = now_usec(CLOCK_REALTIME),
                .stop_timeout_sec = spec->stop_timeout_sec > 0 ? spec->stop_timeout_sec
                                                               : STOP_TIMEOUT_DEFAULT_SEC,
        };
        if (n_groups > 0) {
                i->groups = calloc(n_groups, sizeof(gid_t));
                if (!i->groups)
                        return -ENOMEM;
                memcpy(i->groups, groups, n_groups * sizeof(gid_t));
                i->n_groups = n_groups;
        }
        i->spec.backend = spec->backend;
        r = instance_init_paths(i, number);
        if (r < 0)
                return r;
        if (!spec->boot_marker && i->ops && i->ops->default_boot_marker) {
                spec->boot_marker = strdup(i->ops->default_boot_marker);
                if (!spec->boot_marker)
                        return -ENOMEM;
        }
        i->spec = *spec;
        *spec = (InstanceSpec){};
        *ret = TAKE_PTR(i);
        return 0;
}

Instance *instance_free(Instance *i) {
        if (!i)
                return NULL;
        manager_unlink_instance(i->manager, i);
        instance_spawn_abandon(i);
        instance_control_abort(i);
        instance_bus_cancel_replies(i);
        i->scope = mfree(i->scope);
        i->reap = reap_free(i->reap);
        sd_event_source_disable_unref(i->timer_source);
        sd_event_source_disable_unref(i->pidfd_source);
        safe_close(i->pidfd);
        console_watch_done(&i->console);
        if (i->ops && i->ops->disconnect)
                i->ops->disconnect(i);
        instance_control_stop_waiting(i);
        instance_spec_done(&i->spec);
        free(i->groups);
        free(i->object_path);
        free(i->status_text);
        free(i->exe);
        free(i->runtime_dir);
        free(i->console_log);
        free(i->control_path);
        free(i->home_dir);
        free(i->tmp_dir);
        return mfree(i);
}

void instance_log(Instance *i, int level, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_full(level, "Instance %u (uid %u): %s", i->number, (unsigned) i->owner, buf);
}

void instance_set_status(Instance *i, const char *text) {
        free(i->status_text);
        /* It is sent over D-Bus: a path cut mid-character would make the bus drop us. */
        i->status_text = text ? escape_nonprintable(strdup(text)) : NULL;
}

/* Signals go through the pidfd: an adopted VMM is not our child, and its pid could be reused. */
int instance_signal(Instance *i, int sig) {
        if (i->pidfd >= 0)
                return syscall(SYS_pidfd_send_signal, i->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
        return kill(i->pid, sig) < 0 ? -errno : 0;
}

bool instance_is_active(const Instance *i) {
        return i->pid > 0;
}

bool instance_is_removing(const Instance *i) {
        return i->removing;
}

bool instance_is_reaping(const Instance *i) {
        return i->sub == INSTANCE_SUB_REAPING;
}

int instance_leaf_name(unsigned number, char *buf, size_t size) {
        int n = snprintf(buf, size, "instance-%u", number);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

void instance_add_to_gc_queue(Instance *i) {
        if (i->in_gc_queue)
                return;
        i->in_gc_queue = true;
        manager_queue_gc(i->manager, i);
}

/* What state.json (run: true) or a definition (false: only what recreates the instance, not its
 * run: pid, state, console) keeps of an instance. The record borrows the instance's strings: it
 * lives only as long as the call that writes it. */
StateRecord instance_record(Instance *i, bool run) {
        StateRecord rec = {
                .number = i->number,
                .owner = i->owner,
                .gid = i->owner_gid,
                .groups = i->groups,
                .n_groups = i->n_groups,
                .spec = i->spec,
                .created = i->created_realtime,
        };

        rec.spec.stop_timeout_sec = i->stop_timeout_sec; /* the one in effect */
        if (!run)
                return rec;
        /* (state_format() only reads them.) */
        rec.state = (char *) instance_state_to_string(i->state);
        rec.reason = (char *) instance_reason_to_string(i->reason);
        rec.booted = i->booted;
        rec.pid = i->pid;
        rec.starttime = i->pid_starttime;
        rec.exe = i->exe;
        rec.scope = i->scope;
        rec.started = i->started_realtime;
        rec.console_start = i->console.start;
        rec.restart_count = i->restart_count;
        return rec;
}
