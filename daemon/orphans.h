/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

typedef struct Manager Manager;

/* After state.json is loaded. With a readable state: every task in a cgroup leaf of ours that no
 * running instance owns is killed (logged with its pid and command), and its leaf removed, in the
 * event loop; directories of instances that do not exist are deleted; an instance recorded as
 * starting, running, suspended or stopping with no verified VMM becomes failed/daemon-lost and
 * releases its slot. With an unreadable state (m->state_untrusted): nothing is killed; every slot
 * with tasks in its leaf or a directory becomes a failed/daemon-lost instance of the directory's
 * owner, its processes left running. */
void manager_collect_orphans(Manager *m);

/* Kills what is left in slot n's leaf (no instance may own it); 0: it was empty (and is removed),
 * 1: being ended, the slot is busy until then. */
int manager_reap_slot(Manager *m, unsigned n);
