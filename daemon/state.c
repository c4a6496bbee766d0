/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json: one table of fields, read by the writer and by the parser alike. A key is added,
 * renamed or bounded in one place, and the unit test (tests/unit/test-state.c) checks that every
 * key written comes back. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "daemon/state.h"
#include "netsetup/plan.h"

typedef enum FieldType {
        FIELD_UINT,   /* an integer in min..max; the member is unsigned (or never negative), 4 or 8 bytes */
        FIELD_BOOL,   /* true or false; also 0 or 1, as older records wrote crosvm_disable_sandbox */
        FIELD_STRING, /* a string of at most SPEC_STRING_MAX bytes; NULL is written as null */
        FIELD_STRV,   /* an array of at most SPEC_LIST_MAX strings; NULL is written as [] */
        FIELD_ENUM,   /* one of the n_values names of to_string(); the member is an int-sized enum */
        FIELD_GROUPS, /* groups and n_groups: an array of at most STATE_GROUPS_MAX group ids */
        _FIELD_TYPE_MAX,
} FieldType;

typedef struct StateField {
        const char *key;
        FieldType type;
        size_t offset, size;             /* of the member in StateRecord */
        bool required;                   /* else absent (or null) leaves the default */
        uint64_t min, max;               /* FIELD_UINT */
        const char *(*to_string)(int v); /* FIELD_ENUM */
        int (*from_string)(const char *s);
        int n_values;
        bool (*valid)(const char *s); /* FIELD_STRING: its shape; NULL: any */
} StateField;

static const char *backend_name(int v) {
        return backend_to_string(v);
}

static int backend_value(const char *s) {
        return backend_from_string(s);
}

static const char *restart_name(int v) {
        return restart_policy_to_string(v);
}

static int restart_value(const char *s) {
        return restart_policy_from_string(s);
}

/* A unit name of ours (instance.c makes "cuttlefish-instance-N-PID.scope"), nothing a command
 * line could mistake for an option or a path. */
static bool scope_valid(const char *s) {
        return strncmp(s, "cuttlefish-instance-", strlen("cuttlefish-instance-")) == 0 && strlen(s) <= 64 &&
                        !strchr(s, '/');
}

#define MEMBER(name) .offset = offsetof(StateRecord, name), .size = sizeof(((StateRecord *) NULL)->name)
#define UINT(k, name, lo, hi, ...) \
        { .key = k, .type = FIELD_UINT, MEMBER(name), .min = lo, .max = hi, __VA_ARGS__ }
#define BOOL(k, name) \
        { .key = k, .type = FIELD_BOOL, MEMBER(name) }
#define STRING(k, name, ...) \
        { .key = k, .type = FIELD_STRING, MEMBER(name), __VA_ARGS__ }
#define STRV(k, name) \
        { .key = k, .type = FIELD_STRV, MEMBER(name) }
#define ENUM(k, name, prefix, n)                                                                       \
        {                                                                                              \
                .key = k, .type = FIELD_ENUM, MEMBER(name), .n_values = n, .to_string = prefix##_name, \
                .from_string = prefix##_value,                                                         \
        }

/* In the order the keys are written (that of every state.json so far). uid_t/gid_t -1 means
 * "unchanged" to the kernel: never an owner. What InstanceSpec bounds (cpus, memory_mb, the
 * timeouts, the paths) instance_spec_check() checks once the record is read. */
static const StateField state_fields[] = {
        UINT("number", number, 1, NET_SLOTS_MAX, .required = true),
        UINT("owner", owner, 0, UINT32_MAX - 1),
        UINT("gid", gid, 0, UINT32_MAX - 1),
        { .key = "groups", .type = FIELD_GROUPS },
        STRING("state", state),
        STRING("reason", reason),
        UINT("pid", pid, 0, INT32_MAX),
        UINT("starttime", starttime, 0, INT64_MAX),
        STRING("exe", exe),
        UINT("created", created, 0, INT64_MAX),
        UINT("started", started, 0, INT64_MAX),
        UINT("restart_count", restart_count, 0, UINT32_MAX),
        ENUM("backend", spec.backend, backend, _BACKEND_MAX),
        UINT("cpus", spec.cpus, 0, UINT32_MAX),
        UINT("memory_mb", spec.memory_mb, 0, UINT32_MAX),
        STRING("kernel", spec.kernel),
        STRING("initrd", spec.initrd),
        STRING("cmdline", spec.cmdline),
        STRV("disks", spec.disks),
        STRV("images", spec.images),
        ENUM("restart", spec.restart, restart, _RESTART_MAX),
        STRING("boot_marker", spec.boot_marker),
        UINT("boot_timeout_sec", spec.boot_timeout_sec, 0, UINT32_MAX),
        STRV("extra_args", spec.extra_args),
        BOOL("booted", booted),
        UINT("stop_timeout_sec", spec.stop_timeout_sec, 0, UINT32_MAX),
        STRING("gpu_mode", spec.gpu_mode),
        STRING("host_package", spec.host_package),
        STRING("images_dir", spec.images_dir),
        STRING("scope", scope, .valid = scope_valid),
        STRING("bios", spec.bios),
        BOOL("crosvm_disable_sandbox", spec.crosvm_disable_sandbox),
        BOOL("autostart", spec.autostart),
        UINT("console_start", console_start, 0, INT64_MAX),
};

#undef MEMBER
#undef UINT
#undef BOOL
#undef STRING
#undef STRV
#undef ENUM

#define AT(rec, f) ((void *) ((uint8_t *) (rec) + (f)->offset))
#define AT_CONST(rec, f) ((const void *) ((const uint8_t *) (rec) + (f)->offset))

/* The parsers' complaint about a value, for record_error(). */
_printf_(2, 3) static int bad_value(char **ret_why, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(ret_why, fmt, ap);
        va_end(ap);
        if (k < 0) {
                *ret_why = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

static int bad_type(char **ret_why, const char *expected, struct json_object *v) {
        return bad_value(
                        ret_why,
                        "expected %s, got %s",
                        expected,
                        json_type_to_name(json_object_get_type(v)));
}

/* An integer within min..max. json-c clamps what does not fit an int64 to INT64_MIN/MAX and sets
 * errno; a value above INT64_MAX that fits a uint64 reads back as INT64_MAX without it. */
static int json_uint(struct json_object *v, uint64_t min, uint64_t max, uint64_t *ret, char **ret_why) {
        int64_t i;

        if (!json_object_is_type(v, json_type_int))
                return bad_type(ret_why, "an integer", v);
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < 0 || (uint64_t) i < min || (uint64_t) i > max ||
            (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t) INT64_MAX))
                return bad_value(
                                ret_why,
                                "%s is outside %llu..%llu",
                                json_object_to_json_string(v),
                                (unsigned long long) min,
                                (unsigned long long) max);
        *ret = (uint64_t) i;
        return 0;
}

static int write_uint(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        uint64_t v;

        if (f->size == sizeof(uint32_t)) {
                uint32_t u;
                memcpy(&u, AT_CONST(rec, f), sizeof(u));
                v = u;
        } else if (f->size == sizeof(uint64_t))
                memcpy(&v, AT_CONST(rec, f), sizeof(v));
        else
                return -EINVAL; /* a member of another size: the unit test fails */
        *ret = json_object_new_int64((int64_t) v);
        return *ret ? 0 : -ENOMEM;
}

static int parse_uint(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        uint64_t u;
        int r = json_uint(v, f->min, f->max, &u, ret_why);

        if (r < 0)
                return r;
        if (f->size == sizeof(uint32_t)) {
                uint32_t x = (uint32_t) u;
                memcpy(AT(rec, f), &x, sizeof(x));
        } else if (f->size == sizeof(uint64_t))
                memcpy(AT(rec, f), &u, sizeof(u));
        else
                return bad_value(ret_why, "a member of %zu bytes", f->size);
        return 0;
}

static int write_bool(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        *ret = json_object_new_boolean(*(const bool *) AT_CONST(rec, f));
        return *ret ? 0 : -ENOMEM;
}

static int parse_bool(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        uint64_t u;
        int r;

        if (json_object_is_type(v, json_type_boolean)) {
                *(bool *) AT(rec, f) = json_object_get_boolean(v);
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return bad_type(ret_why, "a boolean", v);
        r = json_uint(v, 0, 1, &u, ret_why);
        if (r < 0)
                return r;
        *(bool *) AT(rec, f) = u != 0;
        return 0;
}

static int write_string(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        const char *s = *(char *const *) AT_CONST(rec, f);

        if (!s) {
                *ret = NULL; /* null */
                return 0;
        }
        *ret = json_object_new_string(s);
        return *ret ? 0 : -ENOMEM;
}

static int json_string(struct json_object *v, char **ret, char **ret_why) {
        if (!json_object_is_type(v, json_type_string))
                return bad_type(ret_why, "a string", v);
        if (json_object_get_string_len(v) > SPEC_STRING_MAX)
                return bad_value(ret_why, "longer than %u bytes", SPEC_STRING_MAX);
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static int parse_string(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        _cleanup_free_ char *s = NULL;
        int r = json_string(v, &s, ret_why);

        if (r < 0)
                return r;
        if (f->valid && !f->valid(s))
                return bad_value(ret_why, "not a name this daemon makes");
        free(*(char **) AT(rec, f));
        *(char **) AT(rec, f) = TAKE_PTR(s);
        return 0;
}

static int write_strv(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        STRV_FOREACH (s, *(char **const *) AT_CONST(rec, f)) {
                struct json_object *e = json_object_new_string(*s);

                if (!e || json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int parse_strv(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        _cleanup_(strv_freep) char **l = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return bad_type(ret_why, "an array", v);
        n = json_object_array_length(v);
        if (n > SPEC_LIST_MAX)
                return bad_value(ret_why, "more than %u entries", SPEC_LIST_MAX);
        for (size_t k = 0; k < n; k++) {
                _cleanup_free_ char *s = NULL, *w = NULL;
                struct json_object *e = json_object_array_get_idx(v, k);
                int r = json_string(e, &s, &w);

                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return bad_value(ret_why, "entry %zu: %s", k, strempty(w));
                r = strv_push(&l, TAKE_PTR(s));
                if (r < 0)
                        return r;
        }
        strv_free(*(char ***) AT(rec, f));
        *(char ***) AT(rec, f) = TAKE_PTR(l);
        return 0;
}

static int write_enum(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        const char *s = f->to_string(*(const int *) AT_CONST(rec, f));

        *ret = s ? json_object_new_string(s) : NULL;
        return !s || *ret ? 0 : -ENOMEM;
}

static int parse_enum(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        _cleanup_free_ char *s = NULL, *names = NULL;
        size_t len = 0;
        FILE *mem;
        int r, x;

        r = json_string(v, &s, ret_why);
        if (r < 0)
                return r;
        x = f->from_string(s);
        if (x >= 0) {
                *(int *) AT(rec, f) = x;
                return 0;
        }
        /* The value itself is not repeated: it is whatever bytes the file held. */
        mem = open_memstream(&names, &len);
        if (!mem)
                return -ENOMEM;
        for (int k = 0; k < f->n_values; k++)
                fprintf(mem, "%s%s", k > 0 ? ", " : "", f->to_string(k));
        if (fclose(mem) < 0)
                return -ENOMEM;
        return bad_value(ret_why, "not one of %s", names);
}

static int write_groups(const StateField *f, const StateRecord *rec, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *a = json_object_new_array();

        if (!a)
                return -ENOMEM;
        for (size_t k = 0; k < rec->n_groups; k++) {
                struct json_object *e = json_object_new_int64(rec->groups[k]);

                if (!e || json_object_array_add(a, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int parse_groups(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why) {
        _cleanup_free_ gid_t *groups = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return bad_type(ret_why, "an array", v);
        n = json_object_array_length(v);
        if (n > STATE_GROUPS_MAX)
                return bad_value(ret_why, "more than %u entries", STATE_GROUPS_MAX);
        if (n > 0) {
                groups = calloc(n, sizeof(gid_t));
                if (!groups)
                        return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                _cleanup_free_ char *w = NULL;
                uint64_t g;
                int r = json_uint(json_object_array_get_idx(v, k), 0, UINT32_MAX - 1, &g, &w);

                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return bad_value(ret_why, "entry %zu: %s", k, strempty(w));
                groups[k] = (gid_t) g;
        }
        free(rec->groups);
        rec->groups = TAKE_PTR(groups);
        rec->n_groups = n;
        return 0;
}

static const struct {
        /* *ret NULL: the key is written as null. */
        int (*write)(const StateField *f, const StateRecord *rec, struct json_object **ret);
        /* -EINVAL with *ret_why saying what is wrong with v (the value of f->key, not null); -ENOMEM. */
        int (*parse)(const StateField *f, struct json_object *v, StateRecord *rec, char **ret_why);
} field_ops[_FIELD_TYPE_MAX] = {
        /* clang-format off */
        [FIELD_UINT]   = { write_uint,   parse_uint },
        [FIELD_BOOL]   = { write_bool,   parse_bool },
        [FIELD_STRING] = { write_string, parse_string },
        [FIELD_STRV]   = { write_strv,   parse_strv },
        [FIELD_ENUM]   = { write_enum,   parse_enum },
        [FIELD_GROUPS] = { write_groups, parse_groups },
        /* clang-format on */
};

void state_record_done(StateRecord *r) {
        free(r->groups);
        free(r->state);
        free(r->reason);
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

static int record_format(const StateRecord *rec, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (const StateField *f = state_fields; f < state_fields + ELEMENTSOF(state_fields); f++) {
                struct json_object *v = NULL;

                r = field_ops[f->type].write(f, rec, &v);
                if (r < 0)
                        return r;
                if (json_object_object_add(o, f->key, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int state_format(const StateRecord *records, size_t n, char **ret) {
        _cleanup_(json_object_putp) struct json_object *root = json_object_new_object();
        struct json_object *arr = json_object_new_array(), *version = json_object_new_int(STATE_VERSION);
        const char *text;
        int r;

        if (!root || !arr || !version) {
                json_object_put(arr);
                json_object_put(version);
                return -ENOMEM;
        }
        if (json_object_object_add(root, "version", version) < 0) {
                json_object_put(arr);
                json_object_put(version);
                return -ENOMEM;
        }
        if (json_object_object_add(root, "instances", arr) < 0) {
                json_object_put(arr);
                return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
                struct json_object *o = NULL;

                r = record_format(&records[k], &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(arr, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
        if (!text)
                return -ENOMEM;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

int state_save(const char *path, const StateRecord *records, size_t n) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (n == 0) {
                /* Nothing to re-adopt: leave no file behind. */
                if (unlink(path) < 0 && errno != ENOENT)
                        return log_warning_errno(-errno, "Failed to remove %s: %m", path);
                return 0;
        }
        r = state_format(records, n, &text);
        if (r < 0)
                return log_warning_errno(r, "Failed to write %s: %m", path);
        r = write_file_atomic(path, text, 0600);
        if (r < 0)
                return log_warning_errno(r, "Failed to write %s: %m", path);
        return 0;
}

/* "instances[K] (instance N): key 'KEY': WHY", for *ret. number 0 and key NULL: not known. */
_printf_(5, 6) static int record_error(
                char **ret, size_t k, unsigned number, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *where = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        if (number > 0)
                n = asprintf(&where, "instances[%zu] (instance %u)", k, number);
        else
                n = asprintf(&where, "instances[%zu]", k);
        if (n < 0)
                return -ENOMEM;
        if (key)
                n = asprintf(ret, "%s: key '%s': %s", where, key, text);
        else
                n = asprintf(ret, "%s: %s", where, text);
        if (n < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

/* Records the daemon could have written, and nothing else: -EINVAL with *ret_error; -ENOMEM. */
static int record_parse(struct json_object *o, size_t k, StateRecord *ret, char **ret_error) {
        _cleanup_(state_record_done) StateRecord rec = {};
        _cleanup_free_ char *e = NULL;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return record_error(
                                ret_error,
                                k,
                                0,
                                NULL,
                                "expected an object, got %s",
                                json_type_to_name(json_object_get_type(o)));
        instance_spec_init(&rec.spec, BACKEND_QEMU);
        for (const StateField *f = state_fields; f < state_fields + ELEMENTSOF(state_fields); f++) {
                _cleanup_free_ char *w = NULL;
                struct json_object *v = NULL;

                if (!json_object_object_get_ex(o, f->key, &v) || !v) {
                        if (f->required)
                                return record_error(ret_error, k, rec.number, f->key, "missing");
                        continue;
                }
                r = field_ops[f->type].parse(f, v, &rec, &w);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return record_error(ret_error, k, rec.number, f->key, "%s", strempty(w));
        }
        r = instance_spec_check(&rec.spec, &e);
        if (r < 0)
                return record_error(ret_error, k, rec.number, NULL, "%s", strempty(e));

        *ret = rec;
        rec = (StateRecord){};
        return 0;
}

#define ERRORS_SHOWN 8

_printf_(3, 4) static int file_error(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return error;
}

/* Files from before there was a version are version 1. */
static int state_check_version(struct json_object *root, char **ret_error) {
        _cleanup_free_ char *w = NULL;
        struct json_object *version;
        uint64_t v;
        int r;

        if (!json_object_object_get_ex(root, "version", &version) || !version)
                return 0;
        r = json_uint(version, 0, INT64_MAX, &v, &w);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return file_error(ret_error, -EBADMSG, "key 'version': %s", strempty(w));
        if (v != STATE_VERSION)
                return file_error(
                                ret_error,
                                -EBADMSG,
                                "unknown version %llu (this daemon reads version %u)",
                                (unsigned long long) v,
                                STATE_VERSION);
        return 0;
}

/* The file around the records: an object of our version with an "instances" array, which
 * *ret_instances borrows from *ret_root. -EFBIG or -EBADMSG with *ret_error; -ENOMEM. */
static int state_parse_root(
                const char *text,
                struct json_object **ret_root,
                struct json_object **ret_instances,
                char **ret_error) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        enum json_tokener_error jerr = json_tokener_success; /* json-c sets none when out of memory */
        struct json_object *arr;
        int r;

        if (strnlen(text, STATE_FILE_MAX + 1) > STATE_FILE_MAX)
                return file_error(ret_error, -EFBIG, "larger than %u bytes", STATE_FILE_MAX);
        root = json_tokener_parse_verbose(text, &jerr);
        if (!root)
                return file_error(ret_error, -EBADMSG, "not JSON: %s", json_tokener_error_desc(jerr));
        if (!json_object_is_type(root, json_type_object))
                return file_error(
                                ret_error,
                                -EBADMSG,
                                "expected an object, got %s",
                                json_type_to_name(json_object_get_type(root)));
        r = state_check_version(root, ret_error);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(root, "instances", &arr) ||
            !json_object_is_type(arr, json_type_array))
                return file_error(ret_error, -EBADMSG, "no \"instances\" array");
        *ret_instances = arr;
        *ret_root = TAKE_PTR(root);
        return 0;
}

/* instances[k], as record_parse() takes it and with a number no earlier record has (used_by[N]:
 * index + 1 of the record with number N). -EINVAL with *ret_error; -ENOMEM. */
static int record_parse_unique(
                struct json_object *arr,
                size_t k,
                const size_t *used_by,
                StateRecord *ret,
                char **ret_error) {
        StateRecord rec;
        int r;

        r = record_parse(json_object_array_get_idx(arr, k), k, &rec, ret_error);
        if (r < 0)
                return r;
        if (used_by[rec.number] > 0) {
                r =
                                record_error(ret_error,
                                             k,
                                             rec.number,
                                             "number",
                                             "already used by instances[%zu]",
                                             used_by[rec.number] - 1);
                state_record_done(&rec);
                return r;
        }
        *ret = rec;
        return 0;
}

int state_parse(const char *text, StateRecord **ret, size_t *ret_n, char **ret_error) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        _cleanup_free_ char *errors = NULL;
        size_t used_by[NET_SLOTS_MAX + 1] = {}; /* record index + 1 */
        size_t n = 0, skipped = 0, len, errors_len = 0;
        struct json_object *arr = NULL;
        StateRecord *records = NULL;
        FILE *mem = NULL;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = state_parse_root(text, &root, &arr, ret_error);
        if (r < 0)
                return r;
        len = json_object_array_length(arr);
        /* Numbers are unique: there are never more good records than slots. */
        records = calloc(MAX(MIN(len, (size_t) NET_SLOTS_MAX), (size_t) 1), sizeof(StateRecord));
        if (!records)
                return -ENOMEM;
        if (ret_error) {
                mem = open_memstream(&errors, &errors_len);
                if (!mem) {
                        free(records);
                        return -ENOMEM;
                }
        }
        for (size_t k = 0; k < len; k++) {
                _cleanup_free_ char *e = NULL;
                StateRecord rec;

                r = record_parse_unique(arr, k, used_by, &rec, &e);
                if (r == -ENOMEM) {
                        if (mem)
                                fclose(mem);
                        state_records_free(records, n);
                        return r;
                }
                if (r < 0) {
                        if (mem && skipped < ERRORS_SHOWN)
                                fprintf(mem, "%s%s", skipped > 0 ? "; " : "", strempty(e));
                        skipped++;
                        continue;
                }
                used_by[rec.number] = k + 1;
                records[n++] = rec;
        }
        if (mem) {
                if (skipped > ERRORS_SHOWN)
                        fprintf(mem, "; and %zu more", skipped - ERRORS_SHOWN);
                if (fclose(mem) < 0) {
                        state_records_free(records, n);
                        return -ENOMEM;
                }
                if (skipped > 0)
                        *ret_error = TAKE_PTR(errors);
        }
        *ret = records;
        *ret_n = n;
        return (int) MIN(skipped, (size_t) INT_MAX);
}

int state_keep_bad(const char *path, char **ret_aside) {
        _cleanup_free_ char *aside = NULL;
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                (void) snprintf(stamp, sizeof(stamp), "%lld", (long long) t);
        if (asprintf(&aside, "%s.bad-%s", path, stamp) < 0)
                return -ENOMEM;
        if (rename(path, aside) < 0)
                return -errno;
        *ret_aside = TAKE_PTR(aside);
        return 0;
}
