/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

typedef struct Manager Manager;

/* After state.json is loaded: an instance recorded as starting, running, suspended or stopping
 * that has no verified VMM (the daemon died before it learnt the pid) becomes failed/daemon-lost;
 * and every process of ours that no instance tracks - a sandboxed child or VMM spawned just
 * before the daemon died - is killed. Ours: in an instance's cgroup, or with the instance's runtime
 * directory on its command line; never the tracked VMM of an active instance or its children. */
void manager_collect_orphans(Manager *m);
