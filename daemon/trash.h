/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Instance directories out of the way at once, deleted in the background. An owner controls what
 * is in their instance directory (400,000 files, 100,000 levels): Remove() renames it to
 * "<dir>/.trash-N-USEC" in one step, so the slot's path is free and nothing of it is ever handed to
 * the next owner, and a child process deletes it (rm_rf: no symlinks followed, no mount crossed)
 * while the event loop keeps serving. A daemon that stops first leaves .trash-* behind; the next
 * start deletes them the same way. */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "common/macro.h"

typedef struct Trash Trash;

/* idle: called (from the event loop) when the last deletion has ended. */
int trash_new(sd_event *e, const char *dir, void (*idle)(void *userdata), void *userdata, Trash **ret);
Trash *trash_free(Trash *t);
DEFINE_CLEANUP(Trash *, trash_free);

/* Renames path (a directory in dir) away and starts deleting it. 0 also when path does not
 * exist. On a rename failure it is deleted in place by the child, still in the background. */
int trash_add(Trash *t, const char *path);
/* Deletes the .trash-* a daemon before us left. */
int trash_collect(Trash *t);
bool trash_pending(const Trash *t);
