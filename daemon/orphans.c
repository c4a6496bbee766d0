/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "instance.h"
#include "log.h"
#include "manager.h"
#include "orphans.h"
#include "util.h"

DEFINE_CLEANUP(DIR *, closedir);

static bool state_active(InstanceState s) {
        return s == INSTANCE_STARTING || s == INSTANCE_RUNNING || s == INSTANCE_SUSPENDED ||
                        s == INSTANCE_STOPPING;
}

/* The slot whose cgroup ".../cuttlefish-host-resources/instance-N" pid is in, or 0. */
static unsigned pid_cgroup_slot(pid_t pid) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p;

        if (asprintf(&path, "/proc/%i/cgroup", (int) pid) < 0 || read_full_file(path, &text, NULL) < 0)
                return 0;
        p = strstr(text, "/cuttlefish-host-resources/instance-");
        if (!p)
                return 0;
        return (unsigned) strtoul(p + strlen("/cuttlefish-host-resources/instance-"), NULL, 10);
}

/* The slot whose runtime directory "<runtime>/instances/N/" pid's command line names, or 0. */
static unsigned pid_cmdline_slot(pid_t pid, const char *instances_dir) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t size, len = strlen(instances_dir);

        if (asprintf(&path, "/proc/%i/cmdline", (int) pid) < 0 || read_full_file(path, &text, &size) < 0)
                return 0;
        for (size_t k = 0; k + len < size; k++)
                if (memcmp(text + k, instances_dir, len) == 0 && isdigit((unsigned char) text[k + len]))
                        return (unsigned) strtoul(text + k + len, NULL, 10);
        return 0;
}

static bool pid_tracked(Manager *m, pid_t pid) {
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++)
                if (m->instances[k] && (m->instances[k]->pid == pid || m->instances[k]->spawn_pid == pid))
                        return true;
        return false;
}

void manager_collect_orphans(Manager *m) {
        _cleanup_free_ char *instances_dir = NULL;
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;

        /* Recorded as active, but no VMM was verified: the daemon died while it was starting. */
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++) {
                Instance *i = m->instances[k];

                if (!i || instance_is_active(i) || i->spawn_pid > 0)
                        continue;
                if (!state_active(i->state))
                        continue;
                log_warning("Instance %u (uid %u): was %s when the daemon stopped, with no VMM to re-adopt; marking it failed",
                            k,
                            (unsigned) i->owner,
                            instance_state_to_string(i->state));
                instance_set_status(i, "the daemon stopped while the VMM was starting");
                instance_set_state(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                instance_release(i);
        }

        if (asprintf(&instances_dir, "%s/instances/", m->runtime_dir) < 0)
                return;
        proc = opendir("/proc");
        if (!proc)
                return;
        while ((de = readdir(proc))) {
                Instance *i;
                unsigned slot;
                pid_t pid;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = (pid_t) strtol(de->d_name, NULL, 10);
                if (pid <= 1 || pid == getpid() || pid_tracked(m, pid))
                        continue;
                slot = pid_cgroup_slot(pid);
                if (slot == 0)
                        slot = pid_cmdline_slot(pid, instances_dir);
                if (slot == 0 || slot > NET_SLOTS_MAX)
                        continue;
                /* A re-adopted VMM's own children (crosvm's device processes, launch_cvd's tree)
                 * share its cgroup: they belong to it. */
                i = m->instances[slot];
                if (i && instance_is_active(i))
                        continue;
                log_warning("Killing process %i of slot %u: no instance tracks it (spawned just before the daemon "
                            "stopped?)",
                            (int) pid,
                            slot);
                (void) kill(pid, SIGKILL);
        }
}
