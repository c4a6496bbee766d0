/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json (daemon/state.c): every field survives save and parse; a file the previous writer
 * wrote parses, and the writer still writes it byte for byte; every key written is read back;
 * what the daemon could not have written is refused with the record and the key named. */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strv.h"
#include "daemon/state.h"

/* What the writer before the field table (daemon/state.c as of f2e350a) wrote for
 * record_seven(), every field set, and record_two(), a stopped instance of defaults: captured
 * from that code, not written by hand. */
/* clang-format off */
static const char old_state[] =
        "{\n"
        "  \"version\":1,\n"
        "  \"instances\":[\n"
        "    {\n"
        "      \"number\":2,\n"
        "      \"owner\":0,\n"
        "      \"gid\":0,\n"
        "      \"groups\":[\n"
        "      ],\n"
        "      \"state\":\"stopped\",\n"
        "      \"reason\":\"requested\",\n"
        "      \"pid\":0,\n"
        "      \"starttime\":0,\n"
        "      \"exe\":null,\n"
        "      \"created\":0,\n"
        "      \"started\":0,\n"
        "      \"restart_count\":0,\n"
        "      \"backend\":\"qemu\",\n"
        "      \"cpus\":2,\n"
        "      \"memory_mb\":1024,\n"
        "      \"kernel\":null,\n"
        "      \"initrd\":null,\n"
        "      \"cmdline\":null,\n"
        "      \"disks\":[\n"
        "      ],\n"
        "      \"images\":[\n"
        "      ],\n"
        "      \"restart\":\"no\",\n"
        "      \"boot_marker\":null,\n"
        "      \"boot_timeout_sec\":0,\n"
        "      \"extra_args\":[\n"
        "      ],\n"
        "      \"booted\":false,\n"
        "      \"stop_timeout_sec\":10,\n"
        "      \"gpu_mode\":null,\n"
        "      \"host_package\":null,\n"
        "      \"images_dir\":null,\n"
        "      \"scope\":null,\n"
        "      \"bios\":null,\n"
        "      \"crosvm_disable_sandbox\":false,\n"
        "      \"autostart\":false,\n"
        "      \"console_start\":0\n"
        "    },\n"
        "    {\n"
        "      \"number\":7,\n"
        "      \"owner\":1234,\n"
        "      \"gid\":2345,\n"
        "      \"groups\":[\n"
        "        2345,\n"
        "        27,\n"
        "        4242\n"
        "      ],\n"
        "      \"state\":\"suspended\",\n"
        "      \"reason\":\"guest-panic\",\n"
        "      \"pid\":31337,\n"
        "      \"starttime\":9876543210,\n"
        "      \"exe\":\"\\/usr\\/bin\\/crosvm\",\n"
        "      \"created\":1763800000123456,\n"
        "      \"started\":1763800009654321,\n"
        "      \"restart_count\":3,\n"
        "      \"backend\":\"crosvm\",\n"
        "      \"cpus\":6,\n"
        "      \"memory_mb\":3072,\n"
        "      \"kernel\":\"\\/home\\/u\\/vmlinuz\",\n"
        "      \"initrd\":\"\\/home\\/u\\/initrd.img\",\n"
        "      \"cmdline\":\"console=hvc0 quiet \\\"quoted\\\" back\\\\slash\",\n"
        "      \"disks\":[\n"
        "        \"\\/home\\/u\\/a.img\",\n"
        "        \"\\/home\\/u\\/b.img\"\n"
        "      ],\n"
        "      \"images\":[\n"
        "        \"\\/srv\\/base.img\"\n"
        "      ],\n"
        "      \"restart\":\"always\",\n"
        "      \"boot_marker\":\"CF-BOOTED\\n\xe2\x9c\x93"
        "\",\n"
        "      \"boot_timeout_sec\":321,\n"
        "      \"extra_args\":[\n"
        "        \"--foo\",\n"
        "        \"bar baz\"\n"
        "      ],\n"
        "      \"booted\":true,\n"
        "      \"stop_timeout_sec\":42,\n"
        "      \"gpu_mode\":\"drm_virgl\",\n"
        "      \"host_package\":\"\\/home\\/u\\/cvd-host\",\n"
        "      \"images_dir\":\"\\/home\\/u\\/images\",\n"
        "      \"scope\":\"cuttlefish-instance-7-31337.scope\",\n"
        "      \"bios\":\"\\/home\\/u\\/bios.bin\",\n"
        "      \"crosvm_disable_sandbox\":true,\n"
        "      \"autostart\":true,\n"
        "      \"console_start\":65536\n"
        "    }\n"
        "  ]\n"
        "}";
/* clang-format on */

/* Owned copies, so state_records_free() frees them. */
static char **strv_make(const char *first, ...) {
        char **l = NULL;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                assert(strv_push(&l, strdup(s)) >= 0);
        va_end(ap);
        return l;
}

/* Every field a value of its own that is not what an absent key gives. */
static void record_seven(StateRecord *r) {
        static const gid_t groups[] = { 2345, 27, 4242 };

        *r = (StateRecord){
                .number = 7,
                .owner = 1234,
                .gid = 2345,
                .n_groups = ELEMENTSOF(groups),
                .state = strdup("suspended"),
                .reason = strdup("guest-panic"),
                .booted = true,
                .pid = 31337,
                .starttime = 9876543210ULL,
                .exe = strdup("/usr/bin/crosvm"),
                .scope = strdup("cuttlefish-instance-7-31337.scope"),
                .created = 1763800000123456ULL,
                .started = 1763800009654321ULL,
                .console_start = 65536,
                .restart_count = 3,
        };
        r->groups = malloc(sizeof(groups));
        assert(r->groups);
        memcpy(r->groups, groups, sizeof(groups));
        instance_spec_init(&r->spec, BACKEND_CROSVM);
        r->spec.cpus = 6;
        r->spec.memory_mb = 3072;
        r->spec.kernel = strdup("/home/u/vmlinuz");
        r->spec.initrd = strdup("/home/u/initrd.img");
        r->spec.cmdline = strdup("console=hvc0 quiet \"quoted\" back\\slash");
        r->spec.disks = strv_make("/home/u/a.img", "/home/u/b.img", NULL);
        r->spec.images = strv_make("/srv/base.img", NULL);
        r->spec.restart = RESTART_ALWAYS;
        r->spec.boot_marker = strdup("CF-BOOTED\n\xe2\x9c\x93");
        r->spec.boot_timeout_sec = 321;
        r->spec.extra_args = strv_make("--foo", "bar baz", NULL);
        r->spec.stop_timeout_sec = 42;
        r->spec.gpu_mode = strdup("drm_virgl");
        r->spec.host_package = strdup("/home/u/cvd-host");
        r->spec.images_dir = strdup("/home/u/images");
        r->spec.bios = strdup("/home/u/bios.bin");
        r->spec.crosvm_disable_sandbox = true;
        r->spec.autostart = true;
}

static void record_two(StateRecord *r) {
        *r = (StateRecord){
                .number = 2,
                .state = strdup("stopped"),
                .reason = strdup("requested"),
        };
        instance_spec_init(&r->spec, BACKEND_QEMU);
        r->spec.stop_timeout_sec = 10;
}

static bool strv_eq(char **a, char **b) {
        if (strv_length(a) != strv_length(b))
                return false;
        for (size_t k = 0; a && a[k]; k++)
                if (!streq(a[k], b[k]))
                        return false;
        return true;
}

/* Every member of StateRecord, and of its spec all but .number and .start (never persisted).
 * A member added to StateRecord is added here and to record_seven(). */
static bool record_eq(const StateRecord *a, const StateRecord *b) {
        const InstanceSpec *x = &a->spec, *y = &b->spec;

        return a->number == b->number && a->owner == b->owner && a->gid == b->gid &&
                        a->n_groups == b->n_groups &&
                        (a->n_groups == 0 ||
                         memcmp(a->groups, b->groups, a->n_groups * sizeof(gid_t)) == 0) &&
                        streq_ptr(a->state, b->state) && streq_ptr(a->reason, b->reason) &&
                        a->booted == b->booted && a->pid == b->pid && a->starttime == b->starttime &&
                        streq_ptr(a->exe, b->exe) && streq_ptr(a->scope, b->scope) &&
                        a->created == b->created && a->started == b->started &&
                        a->console_start == b->console_start && a->restart_count == b->restart_count &&
                        x->backend == y->backend && x->cpus == y->cpus && x->memory_mb == y->memory_mb &&
                        streq_ptr(x->kernel, y->kernel) && streq_ptr(x->initrd, y->initrd) &&
                        streq_ptr(x->cmdline, y->cmdline) && strv_eq(x->disks, y->disks) &&
                        strv_eq(x->images, y->images) && streq_ptr(x->gpu_mode, y->gpu_mode) &&
                        x->restart == y->restart && streq_ptr(x->boot_marker, y->boot_marker) &&
                        x->boot_timeout_sec == y->boot_timeout_sec &&
                        strv_eq(x->extra_args, y->extra_args) && streq_ptr(x->bios, y->bios) &&
                        x->crosvm_disable_sandbox == y->crosvm_disable_sandbox &&
                        x->autostart == y->autostart && streq_ptr(x->host_package, y->host_package) &&
                        streq_ptr(x->images_dir, y->images_dir) &&
                        x->stop_timeout_sec == y->stop_timeout_sec;
}

/* state_parse() of a file with these records (the text of an "instances" array's entries). */
static int parse_records(const char *entries, StateRecord **ret, size_t *ret_n, char **ret_error) {
        _cleanup_free_ char *text = NULL;

        assert(asprintf(&text, "{\"version\":1,\"instances\":[%s]}", entries) >= 0);
        return state_parse(text, ret, ret_n, ret_error);
}

/* One record that must be refused: the error names the key and says why. */
static void assert_refused(const char *entry, const char *key, const char *why) {
        _cleanup_free_ char *error = NULL, *needle = NULL;
        StateRecord *records = NULL;
        size_t n = 99;
        int r;

        r = parse_records(entry, &records, &n, &error);
        if (r != 1 || n != 0 || !error) {
                fprintf(stderr, "not refused: %s (r=%i n=%zu)\n", entry, r, n);
                abort();
        }
        if (key)
                assert(asprintf(&needle, "key '%s': ", key) >= 0);
        if ((needle && !strstr(error, needle)) || !strstr(error, why) || !strstr(error, "instances[0]")) {
                fprintf(stderr,
                        "%s: error \"%s\" does not say \"%s%s\"\n",
                        entry,
                        error,
                        strempty(needle),
                        why);
                abort();
        }
        state_records_free(records, n);
}

static void assert_accepted(const char *entry, StateRecord *ret) {
        _cleanup_free_ char *error = NULL;
        StateRecord *records = NULL;
        size_t n = 0;
        int r;

        r = parse_records(entry, &records, &n, &error);
        if (r != 0 || n != 1) {
                fprintf(stderr, "refused: %s: %s\n", entry, strempty(error));
                abort();
        }
        assert(!error);
        if (ret) {
                *ret = records[0];
                records[0] = (StateRecord){};
        }
        state_records_free(records, n);
}

static void test_round_trip(void) {
        _cleanup_free_ char *text = NULL, *again = NULL, *error = NULL;
        StateRecord in[2], *out = NULL;
        size_t n = 0;

        record_seven(&in[0]);
        record_two(&in[1]);
        assert(state_format(in, 2, &text) == 0);
        assert(state_parse(text, &out, &n, &error) == 0);
        assert(!error && n == 2);
        assert(record_eq(&in[0], &out[0]));
        assert(record_eq(&in[1], &out[1]));
        assert(state_format(out, n, &again) == 0);
        assert(streq(text, again));
        state_records_free(out, n);
        state_record_done(&in[0]);
        state_record_done(&in[1]);
}

/* Each key the writer writes matters to the parser: without it, the record reads back different
 * (or, for "number", not at all). So a field that is written and not parsed fails here, and one
 * dropped from the table fails the round trip. */
static void test_every_key_is_read(void) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        _cleanup_free_ char *text = NULL;
        StateRecord seven;
        struct json_object *arr, *o;
        unsigned keys = 0;

        record_seven(&seven);
        assert(state_format(&seven, 1, &text) == 0);
        root = json_tokener_parse(text);
        assert(root && json_object_object_get_ex(root, "instances", &arr));
        o = json_object_array_get_idx(arr, 0);
        json_object_object_foreach(o, key, value) {
                _cleanup_(json_object_putp) struct json_object *copy = NULL;
                _cleanup_free_ char *error = NULL;
                struct json_object *carr, *co;
                StateRecord *records = NULL;
                size_t n = 0;
                int r;

                (void) value;
                keys++;
                assert(json_object_deep_copy(root, &copy, NULL) == 0);
                assert(json_object_object_get_ex(copy, "instances", &carr));
                co = json_object_array_get_idx(carr, 0);
                json_object_object_del(co, key);
                r = state_parse(json_object_to_json_string(copy), &records, &n, &error);
                if (streq(key, "number"))
                        assert(r == 1 && n == 0 && strstr(error, "key 'number': missing"));
                else {
                        if (r != 0 || n != 1 || record_eq(&seven, &records[0])) {
                                fprintf(stderr, "key '%s' is written but not read back\n", key);
                                abort();
                        }
                }
                state_records_free(records, n);
        }
        /* The keys of every state.json so far. */
        assert(keys == 34);
        state_record_done(&seven);
}

static void test_old_file(void) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        StateRecord want[2], *got = NULL;
        size_t n = 0;

        assert(state_parse(old_state, &got, &n, &error) == 0);
        assert(!error && n == 2);
        record_two(&want[0]);
        record_seven(&want[1]);
        assert(record_eq(&want[0], &got[0]));
        assert(record_eq(&want[1], &got[1]));
        /* The same keys, in the same order, the same text. */
        assert(state_format(want, 2, &text) == 0);
        if (!streq(text, old_state)) {
                fprintf(stderr, "the writer changed:\n%s\n", text);
                abort();
        }
        state_records_free(got, n);
        state_record_done(&want[0]);
        state_record_done(&want[1]);
}

static void test_lenient(void) {
        StateRecord r;

        /* Files before there was a version; keys in any order, most of them absent. */
        {
                _cleanup_free_ char *error = NULL;
                StateRecord *records = NULL;
                size_t n = 0;

                assert(state_parse("{\"instances\":[{\"state\":\"running\",\"number\":5}]}",
                                   &records,
                                   &n,
                                   &error) == 0);
                assert(n == 1 && records[0].number == 5 && streq(records[0].state, "running"));
                assert(records[0].spec.backend == BACKEND_QEMU && records[0].spec.cpus == 2 &&
                       records[0].spec.memory_mb == 1024 && !records[0].spec.kernel && !records[0].groups);
                state_records_free(records, n);
        }
        /* null is absent. */
        assert_accepted("{\"number\":1,\"kernel\":null,\"cpus\":null,\"groups\":null}", &r);
        assert(!r.spec.kernel && r.spec.cpus == 2 && r.n_groups == 0);
        state_record_done(&r);
        /* A state or reason this daemon does not know is the daemon's to judge. */
        assert_accepted("{\"number\":1,\"state\":\"hibernating\",\"reason\":\"solar-flare\"}", &r);
        assert(streq(r.state, "hibernating") && streq(r.reason, "solar-flare"));
        state_record_done(&r);
        /* Older records wrote crosvm_disable_sandbox as 0/1. */
        assert_accepted("{\"number\":1,\"crosvm_disable_sandbox\":1}", &r);
        assert(r.spec.crosvm_disable_sandbox);
        state_record_done(&r);
        /* Unknown keys are a newer writer's. */
        assert_accepted("{\"number\":1,\"snapshot\":{\"x\":[1]}}", NULL);
        /* The bounds themselves. */
        assert_accepted("{\"number\":253,\"owner\":4294967294,\"gid\":4294967294,\"groups\":[0,4294967294],"
                        "\"pid\":2147483647,\"starttime\":9223372036854775807,\"restart_count\":4294967295}",
                        &r);
        assert(r.number == 253 && r.owner == 4294967294U && r.groups[1] == 4294967294U &&
               r.pid == 2147483647 && r.starttime == 9223372036854775807ULL &&
               r.restart_count == 4294967295U);
        state_record_done(&r);
}

/* Each key with a value of a type it never has. */
static void test_wrong_types(void) {
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        _cleanup_free_ char *text = NULL;
        StateRecord seven;
        struct json_object *arr, *o;

        record_seven(&seven);
        assert(state_format(&seven, 1, &text) == 0);
        root = json_tokener_parse(text);
        assert(root && json_object_object_get_ex(root, "instances", &arr));
        o = json_object_array_get_idx(arr, 0);
        json_object_object_foreach(o, key, value) {
                static const char *const wrong[] = { "\"1\"", "1", "1.5", "true", "[]", "{}" };
                const char *expected;

                switch (json_object_get_type(value)) {
                case json_type_int:
                        expected = "expected an integer";
                        break;
                case json_type_string:
                        expected = "expected a string";
                        break;
                case json_type_boolean:
                        expected = "expected a boolean";
                        break;
                case json_type_array:
                        expected = "expected an array";
                        break;
                default:
                        abort();
                }
                for (size_t k = 0; k < ELEMENTSOF(wrong); k++) {
                        _cleanup_free_ char *entry = NULL;
                        _cleanup_(json_object_putp) struct json_object *v = json_tokener_parse(wrong[k]);

                        assert(v);
                        if (json_object_get_type(v) == json_object_get_type(value))
                                continue;
                        /* 0/1 is a boolean too, for old records. */
                        if (json_object_is_type(value, json_type_boolean) && streq(wrong[k], "1"))
                                continue;
                        assert(asprintf(&entry, "{\"number\":3,\"%s\":%s}", key, wrong[k]) >= 0);
                        /* (For "number" the second one counts: json-c keeps the last.) */
                        assert_refused(entry, key, expected);
                }
        }
        state_record_done(&seven);

        /* Entries of the arrays. */
        assert_refused("{\"number\":1,\"disks\":[\"/a\",3]}",
                       "disks",
                       "entry 1: expected a string, got int");
        assert_refused("{\"number\":1,\"extra_args\":[null]}",
                       "extra_args",
                       "entry 0: expected a string, got null");
        assert_refused("{\"number\":1,\"groups\":[1,\"2\"]}",
                       "groups",
                       "entry 1: expected an integer, got string");
        /* A record that is not an object. */
        assert_refused("[1]", NULL, "expected an object, got array");
        assert_refused("null", NULL, "expected an object, got null");
}

static void test_out_of_range(void) {
        static const struct {
                const char *entry, *key, *why;
        } bad[] = {
                { "{\"number\":0}", "number", "0 is outside 1..253" },
                { "{\"number\":254}", "number", "254 is outside 1..253" },
                { "{\"number\":-1}", "number", "-1 is outside 1..253" },
                { "{\"number\":1,\"owner\":4294967295}", "owner", "outside 0..4294967294" },
                { "{\"number\":1,\"gid\":4294967295}", "gid", "outside 0..4294967294" },
                { "{\"number\":1,\"groups\":[4294967295]}", "groups", "entry 0: 4294967295 is outside" },
                { "{\"number\":1,\"groups\":[-1]}", "groups", "entry 0: -1 is outside" },
                { "{\"number\":1,\"pid\":2147483648}", "pid", "outside 0..2147483647" },
                { "{\"number\":1,\"pid\":-1}", "pid", "outside" },
                { "{\"number\":1,\"pid\":99999999999999999999}", "pid", "" },
                { "{\"number\":1,\"starttime\":-1}", "starttime", "outside" },
                { "{\"number\":1,\"starttime\":9223372036854775808}",
                  "starttime",
                  "outside 0..9223372036854775807" },
                { "{\"number\":1,\"created\":18446744073709551615}", "created", "outside" },
                { "{\"number\":1,\"started\":-5}", "started", "outside" },
                { "{\"number\":1,\"console_start\":-5}", "console_start", "outside" },
                { "{\"number\":1,\"restart_count\":4294967296}", "restart_count", "outside 0..4294967295" },
                { "{\"number\":1,\"cpus\":4294967296}", "cpus", "outside" },
                { "{\"number\":1,\"memory_mb\":-1}", "memory_mb", "outside" },
                { "{\"number\":1,\"boot_timeout_sec\":4294967296}", "boot_timeout_sec", "outside" },
                { "{\"number\":1,\"stop_timeout_sec\":-1}", "stop_timeout_sec", "outside" },
                { "{\"number\":1,\"booted\":2}", "booted", "2 is outside 0..1" },
                { "{\"number\":1,\"crosvm_disable_sandbox\":-1}", "crosvm_disable_sandbox", "outside 0..1" },
                /* Within the type, beyond what CreateInstance takes. */
                { "{\"number\":1,\"cpus\":65}", NULL, "cpus 65 is outside 1..64" },
                { "{\"number\":1,\"memory_mb\":63}", NULL, "memory_mb 63 is outside" },
                { "{\"number\":1,\"boot_timeout_sec\":86401}", NULL, "boot_timeout_sec 86401 is above" },
                { "{\"number\":1,\"stop_timeout_sec\":3601}", NULL, "stop_timeout_sec 3601 is above" },
                { "{\"number\":1,\"kernel\":\"vmlinuz\"}", NULL, "kernel is not an absolute path" },
                { "{\"number\":1,\"disks\":[\"disk.img\"]}", NULL, "disks is not an absolute path" },
                /* Names. */
                { "{\"number\":1,\"backend\":\"xen\"}", "backend", "not one of qemu, crosvm, cvd" },
                { "{\"number\":1,\"restart\":\"sometimes\"}",
                  "restart",
                  "not one of no, on-failure, always" },
                { "{\"number\":1,\"scope\":\"../../init.scope\"}", "scope", "not a name this daemon makes" },
                { "{\"number\":1,\"scope\":\"cuttlefish-instance-1/x\"}", "scope", "not a name" },
                { "{\"number\":1,\"scope\":\"cuttlefish-instance-1-"
                  "12345678901234567890123456789012345678901234567890.scope\"}",
                  "scope",
                  "not a name" },
                /* Absent where it is needed. */
                { "{\"cpus\":1}", "number", "missing" },
                { "{\"number\":null}", "number", "missing" },
                { "{}", "number", "missing" },
        };
        _cleanup_free_ char *many = NULL, *manygroups = NULL, *longexe = NULL, *entry = NULL, *e2 = NULL;
        char *p;

        for (size_t k = 0; k < ELEMENTSOF(bad); k++)
                assert_refused(bad[k].entry, bad[k].key, bad[k].why);

        /* Lists and strings beyond their bounds. */
        many = strdup("{\"number\":1,\"disks\":[\"/0\"");
        for (unsigned k = 1; k <= SPEC_LIST_MAX; k++)
                assert(asprintf(&p, "%s,\"/%u\"", many, k) >= 0), free(many), many = p;
        assert(asprintf(&p, "%s]}", many) >= 0), free(many), many = p;
        assert_refused(many, "disks", "more than 32 entries");

        manygroups = strdup("{\"number\":1,\"groups\":[0");
        for (unsigned k = 1; k <= STATE_GROUPS_MAX; k++) {
                size_t l = strlen(manygroups);
                manygroups = realloc(manygroups, l + 3);
                assert(manygroups);
                memcpy(manygroups + l, ",1", 3);
        }
        assert(asprintf(&p, "%s]}", manygroups) >= 0), free(manygroups), manygroups = p;
        assert_refused(manygroups, "groups", "more than 65536 entries");

        longexe = malloc(SPEC_STRING_MAX + 2);
        assert(longexe);
        memset(longexe, 'x', SPEC_STRING_MAX + 1);
        longexe[0] = '/';
        longexe[SPEC_STRING_MAX + 1] = 0;
        assert(asprintf(&entry, "{\"number\":1,\"exe\":\"%s\"}", longexe) >= 0);
        assert_refused(entry, "exe", "longer than 4096 bytes");
        longexe[SPEC_STRING_MAX] = 0;
        assert(asprintf(&e2, "{\"number\":1,\"exe\":\"%s\"}", longexe) >= 0);
        assert_accepted(e2, NULL);
}

static void test_duplicates_and_mixed(void) {
        _cleanup_free_ char *error = NULL, *error2 = NULL;
        StateRecord *records = NULL;
        size_t n = 0;

        /* The first record of a number counts; the later one is malformed. */
        assert(parse_records("{\"number\":3,\"cpus\":1},{\"number\":4},{\"number\":3,\"cpus\":3}",
                             &records,
                             &n,
                             &error) == 1);
        assert(n == 2 && records[0].number == 3 && records[0].spec.cpus == 1 && records[1].number == 4);
        assert(streq(error, "instances[2] (instance 3): key 'number': already used by instances[0]"));
        state_records_free(records, n);

        /* A bad record spoils none of the others; the first few are named. */
        assert(parse_records("{\"number\":1},null,1,\"x\",[],{\"number\":2,\"cpus\":0},{\"number\":3},"
                             "{},{},{},{},{},{\"number\":4}",
                             &records,
                             &n,
                             &error2) == 10);
        assert(n == 3 && records[0].number == 1 && records[1].number == 3 && records[2].number == 4);
        assert(strstr(error2,
                      "instances[1]: expected an object, got null; instances[2]: expected an object, got int"));
        assert(strstr(error2, "instances[5] (instance 2): cpus 0 is outside 1..64"));
        assert(strstr(error2, "; and 2 more"));
        assert(!strstr(error2, "instances[11]"));
        state_records_free(records, n);
}

static void assert_file_refused(const char *text, int error, const char *why) {
        _cleanup_free_ char *e = NULL;
        StateRecord *records = (StateRecord *) 0x1;
        size_t n = 99;
        int r;

        r = state_parse(text, &records, &n, &e);
        if (r != error || !e || !strstr(e, why)) {
                fprintf(stderr, "%.60s: r=%i, error \"%s\", not \"%s\"\n", text, r, strempty(e), why);
                abort();
        }
        /* Untouched outputs on failure. */
        assert(records == (StateRecord *) 0x1 && n == 99);
}

static void test_file(void) {
        _cleanup_free_ char *huge = NULL;
        StateRecord *records = NULL;
        size_t n = 0;
        const char *tail = "{\"version\":1,\"instances\":[{\"number\":1}]}";

        assert_file_refused(
                        "{\"version\":2,\"instances\":[]}",
                        -EBADMSG,
                        "unknown version 2 (this daemon reads version 1)");
        assert_file_refused("{\"version\":0,\"instances\":[]}", -EBADMSG, "unknown version 0");
        assert_file_refused(
                        "{\"version\":\"1\",\"instances\":[]}",
                        -EBADMSG,
                        "key 'version': expected an integer, got string");
        assert_file_refused("{\"version\":-1,\"instances\":[]}", -EBADMSG, "key 'version': -1 is outside");
        assert_file_refused("", -EBADMSG, "not JSON");
        assert_file_refused("{\"instances\":[", -EBADMSG, "not JSON");
        assert_file_refused("\x00\x01{{{", -EBADMSG, "not JSON");
        assert_file_refused("[1,2,3]", -EBADMSG, "expected an object, got array");
        assert_file_refused("{\"version\":1}", -EBADMSG, "no \"instances\" array");
        assert_file_refused("{\"instances\":{\"number\":1}}", -EBADMSG, "no \"instances\" array");

        /* A huge file is refused before it is parsed; one at the limit is read. */
        huge = malloc(STATE_FILE_MAX + 2);
        assert(huge);
        memset(huge, ' ', STATE_FILE_MAX + 1);
        strcpy(huge + STATE_FILE_MAX + 1 - strlen(tail), tail);
        assert(strlen(huge) == STATE_FILE_MAX + 1);
        assert_file_refused(huge, -EFBIG, "larger than 16777216 bytes");
        assert(state_parse(huge + 1, &records, &n, NULL) == 0 && n == 1);
        state_records_free(records, n);

        /* Empty is fine. */
        assert(state_parse("{\"version\":1,\"instances\":[]}", &records, &n, NULL) == 0 && n == 0);
        state_records_free(records, n);
}

static void test_save(void) {
        _cleanup_free_ char *path = NULL, *text = NULL, *want = NULL;
        char dir[] = "/tmp/test-state-XXXXXX";
        StateRecord seven;
        struct stat st;
        DIR *d;
        struct dirent *de;
        unsigned files = 0;

        assert(mkdtemp(dir));
        path = path_join(dir, "state.json");
        assert(path);
        record_seven(&seven);
        assert(state_save(path, &seven, 1) == 0);
        assert(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        assert(read_full_file(path, &text, NULL) == 0);
        assert(state_format(&seven, 1, &want) == 0);
        assert(streq(text, want));
        /* Nothing left beside it (the temporary file was renamed). */
        d = opendir(dir);
        assert(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        files++;
        closedir(d);
        assert(files == 1);
        /* No instances: no file. */
        assert(state_save(path, NULL, 0) == 0);
        assert(access(path, F_OK) < 0 && errno == ENOENT);
        assert(state_save(path, NULL, 0) == 0);
        assert(rmdir(dir) == 0);
        state_record_done(&seven);
}

int main(void) {
        test_round_trip();
        test_every_key_is_read();
        test_old_file();
        test_lenient();
        test_wrong_types();
        test_out_of_range();
        test_duplicates_and_mixed();
        test_file();
        test_save();
        return 0;
}
