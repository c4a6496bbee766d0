/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json: every instance, written atomically on each transition, read back at start so
 * running VMMs are re-adopted (DESIGN.md §7). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "util.h"

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
                json_object_object_add(o, "bios", str_or_null(i->spec.bios));
                json_object_object_add(
                                o,
                                "crosvm_disable_sandbox",
                                json_object_new_boolean(i->spec.crosvm_disable_sandbox));
                json_object_object_add(
                                o, "console_start", json_object_new_int64((int64_t) i->console_start));
                json_object_array_add(arr, o);
        }

        r = write_file_atomic(path, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY), 0600);
        if (r < 0)
                return log_warning_errno(r, "Failed to write %s: %m", path);
        return 0;
}

static const char *jstr(struct json_object *o, const char *k) {
        struct json_object *v;
        return json_object_object_get_ex(o, k, &v) && v && json_object_is_type(v, json_type_string)
                        ? json_object_get_string(v)
                        : NULL;
}

static int64_t jint(struct json_object *o, const char *k) {
        struct json_object *v;
        return json_object_object_get_ex(o, k, &v) && v ? json_object_get_int64(v) : 0;
}

static int jstrv(struct json_object *o, const char *k, char ***ret) {
        struct json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, k, &v) || !v || !json_object_is_type(v, json_type_array))
                return 0;
        for (size_t n = 0; n < json_object_array_length(v); n++) {
                const char *s = json_object_get_string(json_object_array_get_idx(v, n));
                if (s && strv_push(ret, strdup(s)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int dup_or_null(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return !s || *ret ? 0 : -ENOMEM;
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

static int load_instance(Manager *m, struct json_object *o) {
        _cleanup_(instance_spec_done) InstanceSpec spec = {};
        _cleanup_free_ gid_t *groups = NULL;
        struct json_object *g;
        Instance *i = NULL;
        size_t n_groups = 0;
        unsigned number = (unsigned) jint(o, "number");
        pid_t pid = (pid_t) jint(o, "pid");
        int r;

        if (number < 1 || number > NET_SLOTS_MAX || m->instances[number])
                return -EINVAL;

        instance_spec_init(&spec, backend_from_string(jstr(o, "backend")));
        if (spec.backend < 0)
                spec.backend = BACKEND_QEMU;
        spec.cpus = (unsigned) jint(o, "cpus");
        spec.memory_mb = (unsigned) jint(o, "memory_mb");
        spec.restart = restart_policy_from_string(jstr(o, "restart"));
        if (spec.restart < 0)
                spec.restart = RESTART_NO;
        spec.boot_timeout_sec = (unsigned) jint(o, "boot_timeout_sec");
        if (dup_or_null(jstr(o, "kernel"), &spec.kernel) < 0 ||
            dup_or_null(jstr(o, "initrd"), &spec.initrd) < 0 ||
            dup_or_null(jstr(o, "cmdline"), &spec.cmdline) < 0 ||
            dup_or_null(jstr(o, "boot_marker"), &spec.boot_marker) < 0 ||
            jstrv(o, "disks", &spec.disks) < 0 || jstrv(o, "extra_args", &spec.extra_args) < 0 ||
            dup_or_null(jstr(o, "gpu_mode"), &spec.gpu_mode) < 0 ||
            dup_or_null(jstr(o, "host_package"), &spec.host_package) < 0 ||
            dup_or_null(jstr(o, "images_dir"), &spec.images_dir) < 0 ||
            dup_or_null(jstr(o, "bios"), &spec.bios) < 0)
                return -ENOMEM;
        spec.stop_timeout_sec = (unsigned) jint(o, "stop_timeout_sec");
        spec.crosvm_disable_sandbox = jint(o, "crosvm_disable_sandbox") != 0;

        if (json_object_object_get_ex(o, "groups", &g) && json_object_is_type(g, json_type_array)) {
                n_groups = json_object_array_length(g);
                groups = calloc(MAX(n_groups, (size_t) 1), sizeof(gid_t));
                if (!groups)
                        return -ENOMEM;
                for (size_t k = 0; k < n_groups; k++)
                        groups[k] = (gid_t) json_object_get_int64(json_object_array_get_idx(g, k));
        }

        r =
                        instance_new(m,
                                     number,
                                     (uid_t) jint(o, "owner"),
                                     (gid_t) jint(o, "gid"),
                                     groups,
                                     n_groups,
                                     &spec,
                                     &i);
        if (r < 0)
                return r;
        i->created_realtime = (uint64_t) jint(o, "created");
        i->started_realtime = (uint64_t) jint(o, "started");
        i->restart_count = (unsigned) jint(o, "restart_count");
        i->console_start = (uint64_t) jint(o, "console_start");
        i->state = instance_state_from_string(jstr(o, "state"));
        i->reason = instance_reason_from_string(jstr(o, "reason"));
        if (i->state < 0)
                i->state = INSTANCE_STOPPED;
        if (i->reason < 0)
                i->reason = REASON_REQUESTED;
        (void) manager_add_instance(m, i);

        if (pid > 0) {
                if (vmm_verified(pid, (uint64_t) jint(o, "starttime"), jstr(o, "exe"), i->spec.backend)) {
                        r = instance_adopt(i, pid, (uint64_t) jint(o, "starttime"), jstr(o, "exe"));
                        if (r >= 0) {
                                log_info("Instance %u (uid %u): re-adopted running VMM (pid %i)",
                                         number,
                                         (unsigned) i->owner,
                                         (int) pid);
                                return 0;
                        }
                }
                /* Gone, or not the process we started: never touch it, release the slot. */
                log_warning("Instance %u (uid %u): VMM (pid %i) could not be verified after the daemon restart; "
                            "marking it failed",
                            number,
                            (unsigned) i->owner,
                            (int) pid);
                free(i->status_text);
                i->status_text = strdup("the VMM was lost while the daemon was not running");
                instance_set_state(i, INSTANCE_FAILED, REASON_DAEMON_LOST);
                instance_release(i);
        }
        return 0;
}

int manager_load_state(Manager *m) {
        _cleanup_free_ char *path = path_join(m->runtime_dir, "state.json"), *text = NULL;
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        struct json_object *arr;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_warning_errno(r, "Failed to read %s: %m", path);
        root = json_tokener_parse(text);
        if (!root || !json_object_object_get_ex(root, "instances", &arr) ||
            !json_object_is_type(arr, json_type_array))
                return log_warning_errno(-EBADMSG, "Ignoring malformed %s.", path);

        for (size_t k = 0; k < json_object_array_length(arr); k++) {
                r = load_instance(m, json_object_array_get_idx(arr, k));
                if (r < 0)
                        log_warning_errno(r, "Skipping an instance record in %s: %m", path);
        }
        return 0;
}
