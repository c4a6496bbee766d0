/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Instance definitions that outlive the runtime dir (a host reboot empties /run): STATE_DIR/
 * instances/N/definition.json, one record of state.json's format with what CreateInstance was given
 * (owner, groups, number, options, creation time). The directory is root's (0755) and the file is
 * written by root (0644, a temporary file, fsync, rename), so an owner can neither forge nor change
 * a definition: what they may write (overlays, a cvd HOME) goes below it, in a directory of theirs. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/state.h"

typedef struct Instance Instance;

/* Writes (or rewrites) i's definition. Logs its failures. */
int persist_save(const char *state_dir, Instance *i);
/* Removes number's definition, its disk directory (the overlays) and its directory. */
void persist_remove(const char *state_dir, unsigned number);
/* STATE_DIR/instances/N/disk: the owner's (0700), made by root when missing (in root's directory,
 * so nobody can put anything else in its place); an existing one must be a directory of the
 * owner's. The path in *ret. */
int persist_disk_dir(const char *state_dir, unsigned number, uid_t owner, gid_t gid, char **ret);
/* The blocks the files of number's disk directory use, in bytes (0 when there is none). Only
 * lstat()ed: nothing there is opened or followed. */
uint64_t persist_disk_usage(const char *state_dir, unsigned number);
/* Deletes the disk directory and everything in it (never following a symlink). */
int persist_reset_disk(const char *state_dir, unsigned number);
/* 1: number has a definition file; 0: not. */
bool persist_exists(const char *state_dir, unsigned number);
/* Reads number's definition: 0 and *ret; -ENOENT none; another error with the reason in
 * *ret_error (a damaged or foreign file: see persist_keep_bad()). */
int persist_load(const char *state_dir, unsigned number, StateRecord *ret, char **ret_error);
/* Renames a damaged definition to definition.json.bad-<UTC time>; the new name in *ret_aside. */
int persist_keep_bad(const char *state_dir, unsigned number, char **ret_aside);
/* The numbers that have a directory under STATE_DIR/instances (numbers[k] true), for a scan. */
int persist_scan(const char *state_dir, bool numbers[], unsigned max);
