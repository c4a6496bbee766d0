/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "common/log.h"
#include "common/macro.h"
#include "daemon/autostart.h"
#include "daemon/instance-spawn.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "daemon/network.h"

void autostart_done(Autostart *a) {
        a->defer = sd_event_source_disable_unref(a->defer);
}

static bool autostart_eligible(Instance *i) {
        return i->spec.autostart && !instance_is_active(i) && !instance_spawn_running(i) &&
                        !instance_is_removing(i) && !instance_is_reaping(i);
}

static int on_autostart(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        Autostart *a = &m->autostart;

        a->defer = sd_event_source_disable_unref(a->defer);
        for (unsigned n = 1; n <= NET_SLOTS_MAX && a->inflight < m->config.autostart_parallel; n++) {
                _cleanup_free_ char *e = NULL;
                Instance *i = m->instances[n];

                if (!a->queued[n])
                        continue;
                a->queued[n] = false;
                if (!i || !autostart_eligible(i))
                        continue;
                instance_log(i, LOG_INFO, "autostart");
                if (instance_start(i, &e) < 0) {
                        instance_log(i, LOG_ERR, "autostart failed: %s", strempty(e));
                        continue;
                }
                i->autostarting = true;
                a->inflight++;
        }
        return 0;
}

static void autostart_schedule(Manager *m) {
        Autostart *a = &m->autostart;

        if (a->defer)
                return;
        if (sd_event_add_defer(m->event, &a->defer, on_autostart, m) < 0)
                log_warning("Failed to schedule the autostart of instances.");
}

void autostart_network_changed(Manager *m) {
        Autostart *a = &m->autostart;
        unsigned queued = 0;

        if (a->begun || !m->network ||
            (m->network->state != NETWORK_UP && m->network->state != NETWORK_DEGRADED))
                return;
        a->begun = true;
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++)
                if (m->instances[n] && autostart_eligible(m->instances[n])) {
                        a->queued[n] = true;
                        queued++;
                }
        if (queued == 0)
                return;
        log_info("Starting %u autostart instance%s, at most %u at a time.",
                 queued,
                 queued == 1 ? "" : "s",
                 m->config.autostart_parallel);
        autostart_schedule(m);
}

static void autostart_release(Manager *m, Instance *i) {
        i->autostarting = false;
        if (m->autostart.inflight > 0)
                m->autostart.inflight--;
        autostart_schedule(m);
}

void autostart_instance_changed(Manager *m, Instance *i) {
        if (i->autostarting && i->state != INSTANCE_STARTING)
                autostart_release(m, i);
}

void autostart_instance_gone(Manager *m, Instance *i) {
        if (i->autostarting)
                autostart_release(m, i);
}
