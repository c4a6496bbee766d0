/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Start-up recovery: the records of state.json applied, each recorded VMM verified and
 * re-adopted, and what no instance owns collected.
 *
 * With a readable state: a record's VMM is re-adopted if it is still the process we started
 * (start time and executable), else the instance becomes failed/daemon-lost and releases its
 * slot; every task in a cgroup leaf of ours that no running instance owns is killed (logged with
 * its pid and command), and its leaf removed, in the event loop; directories of instances that do
 * not exist are deleted; an instance recorded as starting, running, suspended or stopping with no
 * VMM becomes failed/daemon-lost and releases its slot. With an unreadable state (kept aside as
 * state.json.bad-*, m->state_untrusted): nothing is killed; every slot with tasks in its leaf or a
 * directory becomes a failed/daemon-lost instance of the directory's owner, its processes left
 * running. */

typedef struct Manager Manager;

int recover_run(Manager *m);
