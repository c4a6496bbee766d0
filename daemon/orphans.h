/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

typedef struct Manager Manager;

/* After state.json is loaded: every process of ours that no instance tracks - a VMM spawned just
 * before the daemon died, before it learnt the pid - is killed (ours: its command line or
 * environment names an instance's runtime directory; never the tracked VMM of an active instance
 * or its children); then an instance recorded as starting, running, suspended or stopping with no
 * verified VMM becomes failed/daemon-lost and releases its slot. */
void manager_collect_orphans(Manager *m);
