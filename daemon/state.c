/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json: every instance, written atomically on each transition, read back at start so
 * running VMMs are re-adopted (DESIGN.md §7). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json-util.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "daemon/state.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"

static struct json_object *strv_to_json(char **l) {
        struct json_object *a = json_object_new_array();

        STRV_FOREACH (s, l)
                json_object_array_add(a, json_object_new_string(*s));
        return a;
}

static struct json_object *str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int manager_save_state(Manager *m) {
        _cleanup_(json_object_putp) struct json_object *root = json_object_new_object();
        _cleanup_free_ char *path = path_join(m->runtime_dir, "state.json");
        struct json_object *arr = json_object_new_array();
        int r;

        if (!path || !root || !arr)
                return -ENOMEM;
        if (m->n_instances == 0) {
                json_object_put(arr);
                /* Nothing to re-adopt: leave no file behind. */
                if (unlink(path) < 0 && errno != ENOENT)
                        return log_warning_errno(-errno, "Failed to remove %s: %m", path);
                return 0;
        }
        json_object_object_add(root, "version", json_object_new_int(1));
        json_object_object_add(root, "instances", arr);
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                Instance *i = m->instances[n];
                struct json_object *o, *groups;

                if (!i)
                        continue;
                o = json_object_new_object();
                groups = json_object_new_array();
                for (size_t k = 0; k < i->n_groups; k++)
                        json_object_array_add(groups, json_object_new_int64(i->groups[k]));
                json_object_object_add(o, "number", json_object_new_int((int) i->number));
                json_object_object_add(o, "owner", json_object_new_int64(i->owner));
                json_object_object_add(o, "gid", json_object_new_int64(i->owner_gid));
                json_object_object_add(o, "groups", groups);
                json_object_object_add(
                                o, "state", json_object_new_string(instance_state_to_string(i->state)));
                json_object_object_add(
                                o, "reason", json_object_new_string(instance_reason_to_string(i->reason)));
                json_object_object_add(o, "pid", json_object_new_int(i->pid));
                json_object_object_add(o, "starttime", json_object_new_int64((int64_t) i->pid_starttime));
                json_object_object_add(o, "exe", str_or_null(i->exe));
                json_object_object_add(o, "created", json_object_new_int64((int64_t) i->created_realtime));
                json_object_object_add(o, "started", json_object_new_int64((int64_t) i->started_realtime));
                json_object_object_add(o, "restart_count", json_object_new_int((int) i->restart_count));
                json_object_object_add(
                                o, "backend", json_object_new_string(backend_to_string(i->spec.backend)));
                json_object_object_add(o, "cpus", json_object_new_int((int) i->spec.cpus));
                json_object_object_add(o, "memory_mb", json_object_new_int((int) i->spec.memory_mb));
                json_object_object_add(o, "kernel", str_or_null(i->spec.kernel));
                json_object_object_add(o, "initrd", str_or_null(i->spec.initrd));
                json_object_object_add(o, "cmdline", str_or_null(i->spec.cmdline));
                json_object_object_add(o, "disks", strv_to_json(i->spec.disks));
                json_object_object_add(
                                o,
                                "restart",
                                json_object_new_string(restart_policy_to_string(i->spec.restart)));
                json_object_object_add(o, "boot_marker", str_or_null(i->spec.boot_marker));
                json_object_object_add(
                                o, "boot_timeout_sec", json_object_new_int((int) i->spec.boot_timeout_sec));
                json_object_object_add(o, "extra_args", strv_to_json(i->spec.extra_args));
                json_object_object_add(o, "booted", json_object_new_boolean(i->booted));
                json_object_object_add(
                                o, "stop_timeout_sec", json_object_new_int((int) i->stop_timeout_sec));
                json_object_object_add(o, "gpu_mode", str_or_null(i->spec.gpu_mode));
                json_object_object_add(o, "host_package", str_or_null(i->spec.host_package));
                json_object_object_add(o, "images_dir", str_or_null(i->spec.images_dir));
                json_object_object_add(o, "scope", str_or_null(i->scope));
                json_object_object_add(o, "bios", str_or_null(i->spec.bios));
                json_object_object_add(
                                o,
                                "crosvm_disable_sandbox",
                                json_object_new_boolean(i->spec.crosvm_disable_sandbox));
                json_object_object_add(
                                o, "console_start", json_object_new_int64((int64_t) i->console.start));
                json_object_array_add(arr, o);
        }

        r = write_file_atomic(path, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY), 0600);
        if (r < 0)
                return log_warning_errno(r, "Failed to write %s: %m", path);
        return 0;
}

/* Reading: typed getters that tell "absent" (the default) from "present with the wrong type". */

static int field(struct json_object *o, const char *k, json_type type, struct json_object **ret) {
        struct json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, k, &v) || !v)
                return 0;
        if (!json_object_is_type(v, type))
                return -EINVAL;
        *ret = v;
        return 1;
}

static int get_string(struct json_object *o, const char *k, char **ret) {
        struct json_object *v;
        int r = field(o, k, json_type_string, &v);

        if (r <= 0)
                return r;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 1 : -ENOMEM;
}

static int get_uint(struct json_object *o, const char *k, uint64_t max, uint64_t *ret) {
        struct json_object *v;
        int64_t i;
        int r = field(o, k, json_type_int, &v);

        if (r <= 0)
                return r;
        errno = 0;
        i = json_object_get_int64(v);
        /* json-c clamps what does not fit to INT64_MIN/MAX and sets errno. */
        if (errno != 0 || i < 0 || (uint64_t) i > max)
                return -ERANGE;
        *ret = (uint64_t) i;
        return 1;
}

static int get_strv(struct json_object *o, const char *k, char ***ret) {
        struct json_object *v;
        size_t n;
        int r = field(o, k, json_type_array, &v);

        if (r <= 0)
                return r;
        n = json_object_array_length(v);
        if (n > SPEC_LIST_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(v, i);
                if (!e || !json_object_is_type(e, json_type_string))
                        return -EINVAL;
                r = strv_push(ret, strdup(json_object_get_string(e)));
                if (r < 0)
                        return r;
        }
        return 1;
}

static bool startswith_str(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

void state_record_done(StateRecord *r) {
        free(r->groups);
        free(r->exe);
        free(r->scope);
        instance_spec_done(&r->spec);
        *r = (StateRecord){};
}

void state_records_free(StateRecord *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                state_record_done(&r[i]);
        free(r);
}

#define BAD(field_name)                                                             \
        do {                                                                        \
                if (ret_error && !*ret_error)                                       \
                        *ret_error = strdup("field '" field_name "' is malformed"); \
                return r == -ENOMEM ? -ENOMEM : -EINVAL;                            \
        } while (0)

int state_record_parse(struct json_object *o, StateRecord *ret, char **ret_error) {
        _cleanup_(state_record_done) StateRecord rec = {};
        _cleanup_free_ char *backend = NULL, *restart = NULL, *state = NULL, *reason = NULL;
        struct json_object *g;
        uint64_t v;
        bool b;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!o || !json_object_is_type(o, json_type_object)) {
                r = -EINVAL;
                BAD("instances[]");
        }
        if ((r = get_uint(o, "number", NET_SLOTS_MAX, &v)) <= 0 || v < 1) {
                r = r < 0 ? r : -EINVAL;
                BAD("number");
        }
        rec.number = (unsigned) v;

        if ((r = get_string(o, "backend", &backend)) < 0)
                BAD("backend");
        instance_spec_init(&rec.spec, BACKEND_QEMU);
        if (backend && (rec.spec.backend = backend_from_string(backend)) < 0) {
                r = -EINVAL;
                BAD("backend");
        }
        if ((r = get_string(o, "restart", &restart)) < 0)
                BAD("restart");
        if (restart && (rec.spec.restart = restart_policy_from_string(restart)) < 0) {
                r = -EINVAL;
                BAD("restart");
        }
#define UINT_FIELD(name, max, dest)                       \
        do {                                              \
                v = 0;                                    \
                if ((r = get_uint(o, name, max, &v)) < 0) \
                        BAD(name);                        \
                if (r > 0)                                \
                        dest = v;                         \
        } while (0)
        UINT_FIELD("cpus", UINT32_MAX, rec.spec.cpus);
        UINT_FIELD("memory_mb", UINT32_MAX, rec.spec.memory_mb);
        UINT_FIELD("boot_timeout_sec", UINT32_MAX, rec.spec.boot_timeout_sec);
        UINT_FIELD("stop_timeout_sec", UINT32_MAX, rec.spec.stop_timeout_sec);
        /* uid_t/gid_t -1 means "unchanged" to the kernel: never an owner. */
        UINT_FIELD("owner", UINT32_MAX - 1, rec.owner);
        UINT_FIELD("gid", UINT32_MAX - 1, rec.gid);
        UINT_FIELD("pid", INT32_MAX, rec.pid);
        UINT_FIELD("starttime", UINT64_MAX, rec.starttime);
        UINT_FIELD("created", UINT64_MAX, rec.created);
        UINT_FIELD("started", UINT64_MAX, rec.started);
        UINT_FIELD("console_start", UINT64_MAX, rec.console_start);
        UINT_FIELD("restart_count", UINT32_MAX, rec.restart_count);
#undef UINT_FIELD
        if ((r = get_string(o, "kernel", &rec.spec.kernel)) < 0)
                BAD("kernel");
        if ((r = get_string(o, "initrd", &rec.spec.initrd)) < 0)
                BAD("initrd");
        if ((r = get_string(o, "cmdline", &rec.spec.cmdline)) < 0)
                BAD("cmdline");
        if ((r = get_string(o, "boot_marker", &rec.spec.boot_marker)) < 0)
                BAD("boot_marker");
        if ((r = get_string(o, "gpu_mode", &rec.spec.gpu_mode)) < 0)
                BAD("gpu_mode");
        if ((r = get_string(o, "host_package", &rec.spec.host_package)) < 0)
                BAD("host_package");
        if ((r = get_string(o, "images_dir", &rec.spec.images_dir)) < 0)
                BAD("images_dir");
        if ((r = get_string(o, "bios", &rec.spec.bios)) < 0)
                BAD("bios");
        if ((r = get_string(o, "exe", &rec.exe)) < 0)
                BAD("exe");
        if ((r = get_string(o, "scope", &rec.scope)) < 0)
                BAD("scope");
        /* A unit name of ours, nothing a command line could mistake for an option. */
        if (rec.scope &&
            (!startswith_str(rec.scope, "cuttlefish-instance-") || strlen(rec.scope) > 64 ||
             strchr(rec.scope, '/'))) {
                r = -EINVAL;
                BAD("scope");
        }
        if ((r = get_strv(o, "disks", &rec.spec.disks)) < 0)
                BAD("disks");
        if ((r = get_strv(o, "extra_args", &rec.spec.extra_args)) < 0)
                BAD("extra_args");
        /* Older records wrote these as 0/1 or a boolean. */
        b = false;
        if (field(o, "crosvm_disable_sandbox", json_type_boolean, &g) > 0)
                b = json_object_get_boolean(g);
        else {
                v = 0;
                if ((r = get_uint(o, "crosvm_disable_sandbox", 1, &v)) < 0)
                        BAD("crosvm_disable_sandbox");
                b = v != 0;
        }
        rec.spec.crosvm_disable_sandbox = b;
        r = instance_spec_check(&rec.spec, ret_error);
        if (r < 0)
                return r;

        if ((r = get_string(o, "state", &state)) < 0)
                BAD("state");
        rec.state = state ? instance_state_from_string(state) : INSTANCE_STOPPED;
        if (rec.state < 0)
                rec.state = INSTANCE_STOPPED;
        if ((r = get_string(o, "reason", &reason)) < 0)
                BAD("reason");
        rec.reason = reason ? instance_reason_from_string(reason) : REASON_REQUESTED;
        if (rec.reason < 0)
                rec.reason = REASON_REQUESTED;

        if ((r = field(o, "groups", json_type_array, &g)) < 0)
                BAD("groups");
        if (r > 0) {
                rec.n_groups = json_object_array_length(g);
                if (rec.n_groups > STATE_GROUPS_MAX) {
                        r = -E2BIG;
                        BAD("groups");
                }
                rec.groups = calloc(MAX(rec.n_groups, (size_t) 1), sizeof(gid_t));
                if (!rec.groups)
                        return -ENOMEM;
                for (size_t k = 0; k < rec.n_groups; k++) {
                        struct json_object *e = json_object_array_get_idx(g, k);
                        int64_t x;

                        if (!e || !json_object_is_type(e, json_type_int)) {
                                r = -EINVAL;
                                BAD("groups");
                        }
                        errno = 0;
                        x = json_object_get_int64(e);
                        if (errno != 0 || x < 0 || x >= (int64_t) UINT32_MAX) {
                                r = -ERANGE;
                                BAD("groups");
                        }
                        rec.groups[k] = (gid_t) x;
                }
        }

        *ret = rec;
        rec = (StateRecord){};
        return 0;
}
#undef BAD

int state_parse(const char *text, StateRecord **ret, size_t *ret_n, size_t *ret_skipped) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        StateRecord *records = NULL;
        struct json_object *arr;
        size_t n = 0, skipped = 0, len;

        root = json_tokener_parse(text);
        if (!root || !json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "instances", &arr) ||
            !json_object_is_type(arr, json_type_array))
                return -EBADMSG;
        len = json_object_array_length(arr);
        records = calloc(MAX(len, (size_t) 1), sizeof(StateRecord));
        if (!records)
                return -ENOMEM;
        for (size_t k = 0; k < len; k++) {
                _cleanup_free_ char *e = NULL;
                int r = state_record_parse(json_object_array_get_idx(arr, k), &records[n], &e);

                if (r == -ENOMEM) {
                        state_records_free(records, n);
                        return r;
                }
                if (r < 0) {
                        log_warning("Skipping instance record %zu of the state: %s", k, strempty(e));
                        skipped++;
                        continue;
                }
                n++;
        }
        *ret = records;
        *ret_n = n;
        if (ret_skipped)
                *ret_skipped = skipped;
        return 0;
}

/* The recorded VMM still runs, is the same process (start time) and the same program. exe is what
 * /proc/PID/exe said at spawn; older records hold argv[0], resolved here, except for the cvd
 * backend whose launch_cvd sits in the caller's host package: root does not walk that path. */
static bool vmm_verified(pid_t pid, uint64_t starttime, const char *exe, Backend backend) {
        _cleanup_free_ char *link = NULL, *real = NULL;
        char target[PATH_MAX];
        uint64_t st;
        ssize_t k;

        if (pid <= 1 || !exe)
                return false;
        if (pid_get_starttime(pid, &st) < 0 || st != starttime)
                return false;
        if (asprintf(&link, "/proc/%i/exe", (int) pid) < 0)
                return false;
        k = readlink(link, target, sizeof(target) - 1);
        if (k < 0)
                return false;
        target[k] = 0;
        /* A package upgrade replaces the binary under a running VMM: " (deleted)" is still it. */
        if (k > 10 && streq(target + k - 10, " (deleted)"))
                target[k - 10] = 0;
        if (backend != BACKEND_CVD)
                real = realpath(exe, NULL);
        return streq(target, real ?: exe) || streq(target, exe);
}

static int load_instance(Manager *m, StateRecord *rec) {
        Instance *i = NULL;
        int r;

        if (m->instances[rec->number])
                return -EEXIST;
        r = instance_new(m, rec->number, rec->owner, rec->gid, rec->groups, rec->n_groups, &rec->spec, &i);
        if (r < 0)
                return r;
        i->created_realtime = rec->created;
        i->started_realtime = rec->started;
        i->restart_count = rec->restart_count;
        i->console.start = rec->console_start;
        i->scope = TAKE_PTR(rec->scope);
        i->dir_fresh = true; /* its directory is its own */
        (void) manager_add_instance(m, i);

        if (rec->pid > 0) {
                if (vmm_verified(rec->pid, rec->starttime, rec->exe, i->spec.backend)) {
                        r = instance_adopt(i, rec->pid, rec->starttime, rec->exe,
                                           rec->state == INSTANCE_SUSPENDED);
                        if (r >= 0) {
                                log_info("Instance %u (uid %u): re-adopted running VMM (pid %i)",
                                         rec->number,
                                         (unsigned) i->owner,
                                         (int) rec->pid);
                                return 0;
                        }
                }
                /* Gone, or not the process we started: never touch it, release the slot. */
                log_warning("Instance %u (uid %u): VMM (pid %i) could not be verified after the daemon restart; "
                            "marking it failed",
                            rec->number,
                            (unsigned) i->owner,
                            (int) rec->pid);
                instance_set_status(i, "the VMM was lost while the daemon was not running");
                instance_enter_recovered(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                instance_release(i);
                return 0;
        }
        if (rec->state == INSTANCE_STARTING || rec->state == INSTANCE_RUNNING || rec->state == INSTANCE_SUSPENDED ||
            rec->state == INSTANCE_STOPPING) {
                /* Recorded as active, but there is no VMM to verify: the daemon died while it was
                 * starting. recover's orphan pass gives its slot back once its leaf is reaped. */
                log_warning("Instance %u (uid %u): was %s when the daemon stopped, with no VMM to re-adopt; "
                            "marking it failed",
                            rec->number, (unsigned) i->owner, instance_state_to_string(rec->state));
                instance_set_status(i, "the daemon stopped while the VMM was starting");
                instance_enter_recovered(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                i->release_after_recovery = true;
                return 0;
        }
        instance_enter_recovered(i, rec->state, rec->reason);
        return 0;
}

static void state_keep_bad(const char *path, const char *why) {
        _cleanup_free_ char *aside = NULL;
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                (void) snprintf(stamp, sizeof(stamp), "%lld", (long long) t);
        if (asprintf(&aside, "%s.bad-%s", path, stamp) < 0) {
                log_oom();
                return;
        }
        if (rename(path, aside) < 0) {
                log_error_errno(-errno,
                                "%s is unreadable (%s) and could not be kept as %s: %m",
                                path,
                                why,
                                aside);
                return;
        }
        log_error("%s is unreadable (%s): kept as %s. Instances it no longer describes are recovered as "
                  "failed (daemon-lost) with their processes left running; nothing is killed.",
                  path,
                  why,
                  aside);
}

int manager_load_state(Manager *m) {
        _cleanup_free_ char *path = path_join(m->runtime_dir, "state.json"), *text = NULL;
        StateRecord *records = NULL;
        size_t n = 0, skipped = 0;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                m->state_untrusted = true;
                return log_error_errno(r, "Failed to read %s: %m. Nothing is killed at this start.", path);
        }
        r = state_parse(text, &records, &n, &skipped);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0 || skipped > 0) {
                /* Nothing is lost to a bad file: it is kept for a post-mortem, and what it no longer
                 * says is recovered from what the daemon can check on its own (orphans.c). */
                m->state_untrusted = true;
                state_keep_bad(path,
                               r < 0 ? "it is not a valid state file"
                                     : "some instance records are malformed");
                if (r < 0)
                        return r;
        }
        for (size_t k = 0; k < n; k++) {
                r = load_instance(m, &records[k]);
                if (r < 0)
                        log_warning_errno(
                                        r,
                                        "Skipping the record of instance %u in %s: %m",
                                        records[k].number,
                                        path);
        }
        if (skipped > 0)
                log_warning("Skipped %zu malformed instance records of the state file.", skipped);
        state_records_free(records, n);
        return 0;
}
