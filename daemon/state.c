/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json's records: parsed and checked, not acted on (DESIGN.md §7). The daemon writes the
 * file in manager_save_state() and applies it in manager_load_state() (orphans.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json-util.h"
#include "common/log.h"
#include "daemon/state.h"
#include "netsetup/plan.h"
#include "common/macro.h"
#include "common/strv.h"

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
