/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's bus face (daemon/manager-bus.c, daemon/instance-bus.c) without a bus daemon: a
 * socketpair, one end a server sd_bus that carries the real vtables of a real Manager
 * (manager_new() does no I/O), the other end a client; both on the Manager's event loop, so every
 * call is sent asynchronously and the loop is run until its answer. The client records every
 * signal it receives, and the answers to the calls, in one log: each case asserts that log
 * exactly, so the order of the signals is part of what is tested. Instances run no VMM: a fake
 * backend and a fake spawn hook (as tests/unit/test-instance.c) fork a child that exits on
 * command.
 *
 * Authorization: the peer of a socketpair is this process. Root is always allowed; anyone else
 * is allowed on the instances they own (every instance here is owned by the test's euid), so the
 * test does not depend on being root. Only the Manager's network methods need root (a caller
 * without it would be sent to polkit, which a socketpair has not): that one check is skipped for
 * a non-root run, the rest of the test still runs.
 *
 * GetManagedObjects() lists the objects below the ObjectManager (the instances), not the Manager
 * itself, as the D-Bus specification has it: the Manager's properties are checked with GetAll().
 * Under valgrind 3.19 (no pidfd_open()) the one case with a running VMM is left out.
 *
 * argv[1]: the dbus/ folder of the source tree, whose XML files are the contract. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "common/bus-api.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strv.h"
#include "common/time-util.h"
#include "daemon/backend.h"
#include "daemon/instance.h"
#include "daemon/manager-bus.h"
#include "daemon/manager.h"
#include "tests/unit/fake-vmm.h"
#include "netsetup/plan.h"

#define STEP_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define LOG_MAX 64
#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"

static const char *dbus_dir;
static Manager *manager;
static sd_bus *client;

/* What the client saw, in order: signals (by the filter) and answers (by the call callbacks). */
static char seen[LOG_MAX][256];
static size_t n_seen;

static void seen_add(const char *fmt, ...) _printf_(1, 2);
static void seen_add(const char *fmt, ...) {
        va_list ap;

        assert(n_seen < LOG_MAX);
        va_start(ap, fmt);
        (void) vsnprintf(seen[n_seen++], sizeof(seen[0]), fmt, ap);
        va_end(ap);
}

/* The log since the last check must be exactly the NULL-terminated list; then it is emptied. */
static void seen_expect(const char *first, ...) {
        const char *want[LOG_MAX];
        size_t n = 0;
        bool same;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *)) {
                assert(n < LOG_MAX);
                want[n++] = s;
        }
        va_end(ap);
        same = n == n_seen;
        for (size_t k = 0; same && k < n; k++)
                same = streq(want[k], seen[k]);
        if (!same) {
                fprintf(stderr, "expected:\n");
                for (size_t k = 0; k < n; k++)
                        fprintf(stderr, "        %s\n", want[k]);
                fprintf(stderr, "got:\n");
                for (size_t k = 0; k < n_seen; k++)
                        fprintf(stderr, "        %s\n", seen[k]);
                abort();
        }
        n_seen = 0;
}

/* Appends " Name=value" for the properties of an a{sv} the log shows (those that do not change
 * from run to run); the message is left past the array. */
static void format_properties(sd_bus_message *m, char *buf, size_t size) {
        static const char *const shown[] = { "Number",       "State",         "StateReason",
                                             "NetworkState", "InstanceCount", NULL };
        size_t len = strlen(buf);
        const char *name;

        assert(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                bool show = false;
                char type;
                const char *contents;

                assert(sd_bus_message_read(m, "s", &name) > 0);
                for (size_t k = 0; shown[k]; k++)
                        show = show || streq(shown[k], name);
                assert(sd_bus_message_peek_type(m, &type, &contents) > 0);
                if (show && streq(contents, "s")) {
                        const char *v;

                        assert(sd_bus_message_read(m, "v", "s", &v) > 0);
                        len += (size_t) snprintf(buf + len, size - len, " %s=%s", name, v);
                } else if (show && streq(contents, "u")) {
                        uint32_t v;

                        assert(sd_bus_message_read(m, "v", "u", &v) > 0);
                        len += (size_t) snprintf(buf + len, size - len, " %s=%u", name, v);
                } else
                        assert(sd_bus_message_skip(m, "v") >= 0);
                assert(len < size);
                assert(sd_bus_message_exit_container(m) > 0);
        }
        assert(sd_bus_message_exit_container(m) > 0);
}

/* Interfaces of this API only: the standard ones (Peer, Introspectable, Properties) are sd-bus's. */
static bool interface_is_ours(const char *interface) {
        return strncmp(interface, BUS_NAME ".", strlen(BUS_NAME ".")) == 0;
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char line[256];
        const char *path = sd_bus_message_get_path(m), *s;
        int r;

        uint8_t type;

        assert(sd_bus_message_get_type(m, &type) >= 0);
        if (type != SD_BUS_MESSAGE_SIGNAL)
                return 0;
        (void) snprintf(line, sizeof(line), "%s %s", sd_bus_message_get_member(m), path);
        if (sd_bus_message_is_signal(m, MANAGER_INTERFACE, NULL)) {
                uint32_t n;
                const char *o;

                /* InstanceNew, InstanceRemoved */
                assert(streq(path, MANAGER_PATH));
                assert(sd_bus_message_read(m, "uo", &n, &o) > 0);
                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %u %s", n, o);
        } else if (sd_bus_message_is_signal(m, PROPERTIES_INTERFACE, "PropertiesChanged")) {
                assert(sd_bus_message_read(m, "s", &s) > 0);
                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", s);
                format_properties(m, line, sizeof(line));
                /* Every EmitsChangedSignal=true property goes with its value: none invalidated. */
                assert(sd_bus_message_enter_container(m, 'a', "s") > 0);
                r = sd_bus_message_read(m, "s", &s);
                assert(r == 0);
        } else if (sd_bus_message_is_signal(m, OBJECT_MANAGER_INTERFACE, "InterfacesAdded")) {
                assert(sd_bus_message_read(m, "o", &s) > 0);
                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", s);
                assert(sd_bus_message_enter_container(m, 'a', "{sa{sv}}") > 0);
                while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
                        assert(sd_bus_message_read(m, "s", &s) > 0);
                        if (interface_is_ours(s)) {
                                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", s);
                                format_properties(m, line, sizeof(line));
                        } else
                                assert(sd_bus_message_skip(m, "a{sv}") >= 0);
                        assert(sd_bus_message_exit_container(m) > 0);
                }
        } else if (sd_bus_message_is_signal(m, OBJECT_MANAGER_INTERFACE, "InterfacesRemoved")) {
                assert(sd_bus_message_read(m, "o", &s) > 0);
                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", s);
                assert(sd_bus_message_enter_container(m, 'a', "s") > 0);
                while ((r = sd_bus_message_read(m, "s", &s)) > 0)
                        if (interface_is_ours(s))
                                (void) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", s);
                assert(r == 0);
        }
        seen_add("%s", line);
        return 0;
}

/* Driving the loop: both ends of the socketpair are on the Manager's event loop. */

#define RUN_UNTIL(cond)                                                                 \
        do {                                                                            \
                uint64_t _deadline = now_usec(CLOCK_MONOTONIC) + STEP_TIMEOUT_USEC;     \
                while (!(cond)) {                                                       \
                        assert(now_usec(CLOCK_MONOTONIC) < _deadline);                  \
                        assert(sd_event_run(manager->event, 100 * USEC_PER_MSEC) >= 0); \
                }                                                                       \
        } while (0)

/* Runs what is ready until nothing is: a signal the server wrote is in the client's socket by
 * then (the write is synchronous), so the log is complete. Nothing waits for time. */
static void settle(void) {
        for (unsigned k = 0;; k++) {
                int r = sd_event_run(manager->event, 0);

                assert(r >= 0);
                if (r == 0)
                        return;
                assert(k < 10000);
        }
}

typedef struct Call {
        const char *member;
        sd_bus_message *reply;
} Call;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        c->reply = sd_bus_message_ref(m);
        if (e)
                seen_add("reply %s %s", c->member, e->name);
        else
                seen_add("reply %s", c->member);
        return 0;
}

static void call_start(
                Call *c,
                const char *path,
                const char *interface,
                const char *member,
                const char *types,
                va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        *c = (Call){ .member = member };
        assert(sd_bus_message_new_method_call(client, &m, NULL, path, interface, member) >= 0);
        if (types)
                assert(sd_bus_message_appendv(m, types, ap) >= 0);
        assert(sd_bus_call_async(client, NULL, m, on_reply, c, STEP_TIMEOUT_USEC) >= 0);
}

/* Sends a call; the answer is waited for with call_wait(). */
static Call *call_async(
                Call *c,
                const char *path,
                const char *interface,
                const char *member,
                const char *types,
                ...) {
        va_list ap;

        va_start(ap, types);
        call_start(c, path, interface, member, types, ap);
        va_end(ap);
        return c;
}

static sd_bus_message *call_wait(Call *c) {
        RUN_UNTIL(c->reply);
        return c->reply;
}

/* A call and its answer (an error is an answer too); the log keeps its place among the signals. */
static sd_bus_message *call(
                const char *path, const char *interface, const char *member, const char *types, ...) {
        Call c;
        va_list ap;

        va_start(ap, types);
        call_start(&c, path, interface, member, types, ap);
        va_end(ap);
        return call_wait(&c);
}

static void expect_error(sd_bus_message *reply, const char *name) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (!e || !streq(e->name, name)) {
                fprintf(stderr,
                        "%s: expected error %s, got %s (%s)\n",
                        sd_bus_message_get_member(reply) ?: "call",
                        name,
                        e ? e->name : "success",
                        e ? strempty(e->message) : "");
                abort();
        }
        sd_bus_message_unref(reply);
}

static void expect_success(sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e) {
                fprintf(stderr, "expected success, got %s: %s\n", e->name, strempty(e->message));
                abort();
        }
}

/* A call that must fail with name, and the log line its answer leaves. */
static void call_error(
                const char *name,
                const char *path,
                const char *interface,
                const char *member,
                const char *types,
                ...) {
        Call c;
        va_list ap;

        va_start(ap, types);
        call_start(&c, path, interface, member, types, ap);
        va_end(ap);
        expect_error(call_wait(&c), name);
        assert(n_seen > 0 && strncmp(seen[n_seen - 1], "reply ", 6) == 0);
        n_seen--;
}

static char *instance_path(unsigned number) {
        char *p = cf_instance_path(number);

        assert(p);
        return p;
}

/* An instance as CreateInstance() makes one, owned by whoever runs the test. */
static Instance *add_instance(unsigned number) {
        InstanceSpec spec;
        Instance *i = NULL;

        instance_spec_init(&spec, BACKEND_QEMU);
        assert(instance_new(manager, number, geteuid(), getegid(), NULL, 0, &spec, &i) >= 0);
        instance_spec_done(&spec);
        i->ops = &fake_vmm_ops;
        assert(manager_add_instance(manager, i) >= 0);
        return i;
}

static uint32_t get_u(const char *path, const char *interface, const char *property) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply =
                        call(path, PROPERTIES_INTERFACE, "Get", "ss", interface, property);
        uint32_t v;

        expect_success(reply);
        assert(sd_bus_message_read(reply, "v", "u", &v) > 0);
        seen_expect("reply Get", NULL);
        return v;
}

/* Introspection against the contract (the XML files in dbus/): one line per method (with its arguments'
 * types, names and directions), property (type, access, annotations) and signal. */

static char *xml_attr(const char *tag, size_t len, const char *key) {
        _cleanup_free_ char *pat = NULL;
        const char *p, *q;

        assert(asprintf(&pat, " %s=\"", key) > 0);
        p = strstr(tag, pat);
        if (!p || p >= tag + len)
                return NULL;
        p += strlen(pat);
        q = strchr(p, '"');
        assert(q && q < tag + len);
        return strndup(p, (size_t) (q - p));
}

static void members_of(const char *xml, const char *interface, char ***ret) {
        _cleanup_(strv_freep) char **l = calloc(1, sizeof(char *));
        _cleanup_free_ char *member = NULL;
        bool inside = false, found = false;
        size_t n_args = 0;

        assert(l);
        for (const char *p = xml; (p = strchr(p, '<'));) {
                const char *end;
                size_t len;
                bool closes, self_closing;
                char name[32];
                size_t k = 0;

                if (strncmp(p, "<!--", 4) == 0) {
                        p = strstr(p, "-->");
                        assert(p);
                        continue;
                }
                end = strchr(p, '>');
                assert(end);
                len = (size_t) (end - p);
                closes = p[1] == '/';
                self_closing = end[-1] == '/';
                for (const char *c = p + 1 + closes; *c && !strchr(" />", *c) && k < sizeof(name) - 1; c++)
                        name[k++] = *c;
                name[k] = 0;

                if (streq(name, "interface")) {
                        _cleanup_free_ char *v = closes ? NULL : xml_attr(p, len, "name");

                        inside = !closes && v && streq(v, interface);
                        found = found || inside;
                } else if (inside &&
                           (streq(name, "method") || streq(name, "signal") || streq(name, "property"))) {
                        if (!closes) {
                                _cleanup_free_ char *n = xml_attr(p, len, "name"),
                                                    *t = xml_attr(p, len, "type"),
                                                    *a = xml_attr(p, len, "access");

                                assert(n && !member);
                                if (streq(name, "property"))
                                        assert(asprintf(&member,
                                                        "property %s %s %s",
                                                        n,
                                                        strempty(t),
                                                        strempty(a)) > 0);
                                else
                                        assert(asprintf(&member, "%s %s(", name, n) > 0);
                                n_args = 0;
                        }
                        if (closes || self_closing) {
                                char *s;

                                assert(member);
                                assert(asprintf(&s, "%s%s", member, streq(name, "property") ? "" : ")") > 0);
                                assert(strv_push(&l, s) >= 0);
                                member = mfree(member);
                        }
                } else if (inside && member && streq(name, "arg")) {
                        _cleanup_free_ char *t = xml_attr(p, len, "type"), *n = xml_attr(p, len, "name"),
                                            *d = xml_attr(p, len, "direction");
                        char *s;

                        assert(t);
                        /* A method's argument is "in" unless the XML says otherwise. */
                        assert(asprintf(&s,
                                        "%s%s%s %s %s",
                                        member,
                                        n_args++ > 0 ? ", " : "",
                                        d                                                   ? d
                                                        : strncmp(member, "method", 6) == 0 ? "in"
                                                                                            : "",
                                        t,
                                        strempty(n)) > 0);
                        free(member);
                        member = s;
                } else if (inside && member && streq(name, "annotation")) {
                        _cleanup_free_ char *n = xml_attr(p, len, "name"), *v = xml_attr(p, len, "value");
                        char *s;

                        assert(asprintf(&s, "%s [%s=%s]", member, strempty(n), strempty(v)) > 0);
                        free(member);
                        member = s;
                }
                p = end;
        }
        assert(!member);
        if (!found) {
                fprintf(stderr, "no interface %s in:\n%s\n", interface, xml);
                abort();
        }
        *ret = TAKE_PTR(l);
}

static bool strv_has(char **l, const char *s) {
        STRV_FOREACH (x, l)
                if (streq(*x, s))
                        return true;
        return false;
}

static void introspect_against_contract(const char *path, const char *interface) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **want = NULL, **got = NULL;
        _cleanup_free_ char *file = NULL, *contract = NULL;
        const char *xml;
        bool same = true;

        assert(asprintf(&file, "%s/%s.xml", dbus_dir, interface) > 0);
        assert(read_full_file(file, &contract, NULL) >= 0);
        members_of(contract, interface, &want);
        assert(strv_length(want) > 0);

        reply = call(path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        expect_success(reply);
        seen_expect("reply Introspect", NULL);
        assert(sd_bus_message_read(reply, "s", &xml) > 0);
        members_of(xml, interface, &got);

        STRV_FOREACH (w, want)
                if (!strv_has(got, *w)) {
                        fprintf(stderr, "%s: the contract has, the daemon lacks: %s\n", path, *w);
                        same = false;
                }
        STRV_FOREACH (g, got)
                if (!strv_has(want, *g)) {
                        fprintf(stderr, "%s: the daemon has, the contract lacks: %s\n", path, *g);
                        same = false;
                }
        assert(same);
        assert(strv_length(want) == strv_length(got));
}

/* The cases */

static void test_introspection(void) {
        _cleanup_free_ char *p1 = instance_path(1);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *xml;
        Instance *i = add_instance(1);

        settle();
        n_seen = 0;
        introspect_against_contract(MANAGER_PATH, MANAGER_INTERFACE);
        introspect_against_contract(p1, INSTANCE_INTERFACE);

        /* The Manager's node lists the instance folder and is the ObjectManager. */
        reply = call(MANAGER_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        expect_success(reply);
        assert(sd_bus_message_read(reply, "s", &xml) > 0);
        assert(strstr(xml, "<node name=\"instance\"/>"));
        assert(strstr(xml, "<interface name=\"" OBJECT_MANAGER_INTERFACE "\">"));
        reply = sd_bus_message_unref(reply);
        reply = call(MANAGER_PATH "/instance", "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        expect_success(reply);
        assert(sd_bus_message_read(reply, "s", &xml) > 0);
        assert(strstr(xml, "<node name=\"1\"/>"));
        seen_expect("reply Introspect", "reply Introspect", NULL);

        manager_remove_instance(manager, i);
        settle();
        n_seen = 0;
}

static void test_bad_input(void) {
        _cleanup_free_ char *p1 = instance_path(1), *p9 = instance_path(9);
        Instance *i = add_instance(1);

        instance_enter_created(i);
        settle();
        n_seen = 0;

        /* Wrong signatures: sd-bus refuses them before any handler runs. */
        call_error(SD_BUS_ERROR_INVALID_ARGS, MANAGER_PATH, MANAGER_INTERFACE, "GetInstance", "s", "1");
        call_error(SD_BUS_ERROR_INVALID_ARGS, MANAGER_PATH, MANAGER_INTERFACE, "StopInstance", NULL);
        call_error(SD_BUS_ERROR_INVALID_ARGS, MANAGER_PATH, MANAGER_INTERFACE, "CreateInstance", "u", 1);
        call_error(SD_BUS_ERROR_INVALID_ARGS, MANAGER_PATH, MANAGER_INTERFACE, "ListInstances", "u", 1);
        call_error(SD_BUS_ERROR_INVALID_ARGS, p1, INSTANCE_INTERFACE, "Kill", "s", "TERM");
        call_error(SD_BUS_ERROR_INVALID_ARGS, p1, INSTANCE_INTERFACE, "Stop", "u", 1);
        /* A valid signature with a value the handler refuses. */
        call_error(SD_BUS_ERROR_INVALID_ARGS, p1, INSTANCE_INTERFACE, "Kill", "i", 0);
        call_error(SD_BUS_ERROR_INVALID_ARGS, p1, INSTANCE_INTERFACE, "Kill", "i", _NSIG);
        call_error(SD_BUS_ERROR_UNKNOWN_METHOD, MANAGER_PATH, MANAGER_INTERFACE, "Frobnicate", NULL);

        /* Instances that do not exist. */
        call_error(BUS_ERROR_NO_SUCH_INSTANCE, MANAGER_PATH, MANAGER_INTERFACE, "GetInstance", "u", 9);
        call_error(BUS_ERROR_NO_SUCH_INSTANCE, MANAGER_PATH, MANAGER_INTERFACE, "GetInstance", "u", 0);
        call_error(BUS_ERROR_NO_SUCH_INSTANCE,
                   MANAGER_PATH,
                   MANAGER_INTERFACE,
                   "GetInstance",
                   "u",
                   NET_SLOTS_MAX + 1);
        call_error(BUS_ERROR_NO_SUCH_INSTANCE, MANAGER_PATH, MANAGER_INTERFACE, "StopInstance", "u", 9);
        call_error(BUS_ERROR_NO_SUCH_INSTANCE, MANAGER_PATH, MANAGER_INTERFACE, "RemoveInstance", "u", 9);
        /* The object itself: not found by the fallback vtable. */
        call_error(SD_BUS_ERROR_UNKNOWN_OBJECT, p9, INSTANCE_INTERFACE, "Start", NULL);
        call_error(SD_BUS_ERROR_UNKNOWN_OBJECT,
                   MANAGER_PATH "/instance/x",
                   INSTANCE_INTERFACE,
                   "Start",
                   NULL);

        /* CreateInstance: options are checked before anything else. */
        call_error(BUS_ERROR_INVALID_OPTION,
                   MANAGER_PATH,
                   MANAGER_INTERFACE,
                   "CreateInstance",
                   "a{sv}",
                   1,
                   "bogus",
                   "s",
                   "x");
        call_error(BUS_ERROR_INVALID_OPTION,
                   MANAGER_PATH,
                   MANAGER_INTERFACE,
                   "CreateInstance",
                   "a{sv}",
                   1,
                   "cpus",
                   "s",
                   "two");
        call_error(BUS_ERROR_INVALID_OPTION,
                   MANAGER_PATH,
                   MANAGER_INTERFACE,
                   "CreateInstance",
                   "a{sv}",
                   1,
                   "backend",
                   "s",
                   "vmware");

        /* What a stopped instance cannot do. */
        call_error(BUS_ERROR_INVALID_STATE, p1, INSTANCE_INTERFACE, "Stop", NULL);
        call_error(BUS_ERROR_INVALID_STATE, MANAGER_PATH, MANAGER_INTERFACE, "StopInstance", "u", 1);
        call_error(BUS_ERROR_INVALID_STATE, p1, INSTANCE_INTERFACE, "Kill", "i", SIGTERM);
        call_error(BUS_ERROR_INVALID_STATE, p1, INSTANCE_INTERFACE, "Suspend", NULL);
        call_error(BUS_ERROR_INVALID_STATE, p1, INSTANCE_INTERFACE, "Resume", NULL);

        /* The network is not to be torn down under an instance (the check needs root: anyone else
         * is sent to polkit, which a socketpair has not). */
        if (geteuid() == 0)
                call_error(BUS_ERROR_INVALID_STATE,
                           MANAGER_PATH,
                           MANAGER_INTERFACE,
                           "TeardownNetwork",
                           NULL);
        else
                fprintf(stderr,
                        "test-manager-bus: not root, TeardownNetwork() with instances not checked\n");

        /* None of it changed anything. */
        settle();
        seen_expect(NULL);
        assert(manager->n_instances == 1 && i->state == INSTANCE_STOPPED);

        manager_remove_instance(manager, i);
        settle();
        n_seen = 0;
}

static void test_signals(void) {
        _cleanup_free_ char *p1 = instance_path(1), *p2 = instance_path(2);
        _cleanup_free_ char *new1 = NULL, *added1 = NULL, *changed1 = NULL, *removed1 = NULL, *gone1 = NULL;
        Instance *i;

        assert(asprintf(&new1, "InstanceNew " MANAGER_PATH " 1 %s", p1) > 0);
        assert(asprintf(&added1,
                        "InterfacesAdded " MANAGER_PATH " %s " INSTANCE_INTERFACE " Number=1 State=creating "
                        "StateReason=requested",
                        p1) > 0);
        assert(asprintf(&changed1,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=stopped StateReason=requested",
                        p1) > 0);
        assert(asprintf(&removed1, "InterfacesRemoved " MANAGER_PATH " %s " INSTANCE_INTERFACE, p1) > 0);
        assert(asprintf(&gone1, "InstanceRemoved " MANAGER_PATH " 1 %s", p1) > 0);

        settle();
        seen_expect(NULL);
        assert(get_u(MANAGER_PATH, MANAGER_INTERFACE, "InstanceCount") == 0);

        /* Added: announced, then in the ObjectManager, then counted; what changed at creation
         * follows from the loop. CreateInstance() does this and instance_enter_created() at once:
         * one PropertiesChanged. */
        i = add_instance(1);
        instance_enter_created(i);
        settle();
        seen_expect(new1,
                    added1,
                    "PropertiesChanged " MANAGER_PATH " " MANAGER_INTERFACE " InstanceCount=1",
                    changed1,
                    NULL);
        assert(get_u(MANAGER_PATH, MANAGER_INTERFACE, "InstanceCount") == 1);
        assert(get_u(p1, INSTANCE_INTERFACE, "Number") == 1);

        /* Nothing changed, nothing sent. */
        settle();
        seen_expect(NULL);

        /* Two instances: each its own signals, in the order they happened. */
        i = add_instance(2);
        settle();
        {
                _cleanup_free_ char *new2 = NULL, *added2 = NULL, *changed2 = NULL;

                assert(asprintf(&new2, "InstanceNew " MANAGER_PATH " 2 %s", p2) > 0);
                assert(asprintf(&added2,
                                "InterfacesAdded " MANAGER_PATH " %s " INSTANCE_INTERFACE
                                " Number=2 State=creating StateReason=requested",
                                p2) > 0);
                assert(asprintf(&changed2,
                                "PropertiesChanged %s " INSTANCE_INTERFACE
                                " State=creating StateReason=requested",
                                p2) > 0);
                seen_expect(new2,
                            added2,
                            "PropertiesChanged " MANAGER_PATH " " MANAGER_INTERFACE " InstanceCount=2",
                            changed2,
                            NULL);
        }
        instance_enter_created(i);
        settle();
        {
                _cleanup_free_ char *changed2 = NULL;

                assert(asprintf(&changed2,
                                "PropertiesChanged %s " INSTANCE_INTERFACE
                                " State=stopped StateReason=requested",
                                p2) > 0);
                seen_expect(changed2, NULL);
        }

        /* Removed: out of the ObjectManager, then announced, then the count. */
        manager_remove_instance(manager, manager_get_instance(manager, 1));
        settle();
        seen_expect(removed1,
                    gone1,
                    "PropertiesChanged " MANAGER_PATH " " MANAGER_INTERFACE " InstanceCount=1",
                    NULL);
        assert(get_u(MANAGER_PATH, MANAGER_INTERFACE, "InstanceCount") == 1);
        call_error(SD_BUS_ERROR_UNKNOWN_OBJECT,
                   p1,
                   PROPERTIES_INTERFACE,
                   "Get",
                   "ss",
                   INSTANCE_INTERFACE,
                   "State");

        /* Remove() over the bus, of an instance with nothing running: removed at once, answered
         * after every signal of its removal. */
        {
                _cleanup_free_ char *removed2 = NULL, *gone2 = NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                assert(asprintf(&removed2, "InterfacesRemoved " MANAGER_PATH " %s " INSTANCE_INTERFACE, p2) >
                       0);
                assert(asprintf(&gone2, "InstanceRemoved " MANAGER_PATH " 2 %s", p2) > 0);
                reply = call(MANAGER_PATH, MANAGER_INTERFACE, "RemoveInstance", "u", 2);
                expect_success(reply);
                settle();
                seen_expect(removed2,
                            gone2,
                            "PropertiesChanged " MANAGER_PATH " " MANAGER_INTERFACE " InstanceCount=0",
                            "reply RemoveInstance",
                            NULL);
        }
        assert(manager->n_instances == 0);
}

static pid_t wait_pid;
static bool reaped(void) {
        return kill(wait_pid, 0) < 0 && errno == ESRCH;
}

static void test_start_stop(void) {
        _cleanup_free_ char *p3 = instance_path(3);
        _cleanup_free_ char *starting = NULL, *running = NULL, *stopping = NULL, *stopped = NULL;
        _cleanup_free_ char *stopping_killed = NULL, *removed = NULL, *gone = NULL;
        sd_bus_message *reply;
        Instance *i = add_instance(3);
        Call c;

        assert(asprintf(&starting,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=starting StateReason=requested",
                        p3) > 0);
        assert(asprintf(&running,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=running StateReason=requested",
                        p3) > 0);
        assert(asprintf(&stopping,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=stopping StateReason=requested",
                        p3) > 0);
        assert(asprintf(&stopped,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=stopped StateReason=requested",
                        p3) > 0);
        assert(asprintf(&stopping_killed,
                        "PropertiesChanged %s " INSTANCE_INTERFACE " State=stopping StateReason=killed",
                        p3) > 0);
        assert(asprintf(&removed, "InterfacesRemoved " MANAGER_PATH " %s " INSTANCE_INTERFACE, p3) > 0);
        assert(asprintf(&gone, "InstanceRemoved " MANAGER_PATH " 3 %s", p3) > 0);

        instance_enter_created(i);
        settle();
        n_seen = 0;

        /* Start(): starting; the answer once the VMM was spawned (the deferred reply); running once
         * its control channel is up. */
        call_async(&c, p3, INSTANCE_INTERFACE, "Start", NULL);
        reply = call_wait(&c);
        expect_success(reply);
        sd_bus_message_unref(reply);
        assert(instance_is_active(i));
        settle();
        seen_expect(starting, "reply Start", running, NULL);
        assert(i->state == INSTANCE_RUNNING);
        call_error(BUS_ERROR_INVALID_STATE, p3, INSTANCE_INTERFACE, "Start", NULL);
        assert(get_u(p3, INSTANCE_INTERFACE, "MainPid") == (uint32_t) i->pid);

        /* Stop(): answered at once; the VMM powers off and the state follows. */
        wait_pid = i->pid;
        reply = call(p3, INSTANCE_INTERFACE, "Stop", NULL);
        expect_success(reply);
        sd_bus_message_unref(reply);
        RUN_UNTIL(i->state == INSTANCE_STOPPED);
        settle();
        seen_expect("reply Stop", stopping, stopped, NULL);
        assert(reaped());
        call_error(BUS_ERROR_INVALID_STATE, p3, INSTANCE_INTERFACE, "Stop", NULL);
        assert(get_u(p3, INSTANCE_INTERFACE, "MainPid") == 0);

        /* Remove() of a running instance: stopping (killed), and once the VMM is gone the object
         * leaves the bus; the answer comes after that, before the count. */
        reply = call(p3, INSTANCE_INTERFACE, "Start", NULL);
        expect_success(reply);
        sd_bus_message_unref(reply);
        settle();
        seen_expect(starting, "reply Start", running, NULL);
        wait_pid = i->pid;
        call_async(&c, MANAGER_PATH, MANAGER_INTERFACE, "RemoveInstance", "u", 3);
        reply = call_wait(&c);
        expect_success(reply);
        sd_bus_message_unref(reply);
        settle();
        seen_expect(stopping_killed,
                    removed,
                    gone,
                    "reply RemoveInstance",
                    "PropertiesChanged " MANAGER_PATH " " MANAGER_INTERFACE " InstanceCount=0",
                    NULL);
        assert(!manager_get_instance(manager, 3));
        assert(reaped());
        fake_vmm_release();
}

/* ObjectManager.GetManagedObjects() and ListInstances(): what exists, with a few values. */

static void check_instance_properties(sd_bus_message *m, unsigned number, const char *state) {
        _cleanup_free_ char *runtime_dir = NULL;
        bool seen_state = false, seen_number = false, seen_owner = false, seen_taps = false,
             seen_dir = false;
        const char *name;

        assert(asprintf(&runtime_dir, "%s/instances/%u", manager->runtime_dir, number) > 0);
        assert(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                assert(sd_bus_message_read(m, "s", &name) > 0);
                if (streq(name, "State")) {
                        const char *v;

                        assert(sd_bus_message_read(m, "v", "s", &v) > 0);
                        assert(streq(v, state));
                        seen_state = true;
                } else if (streq(name, "Number") || streq(name, "Owner") || streq(name, "VsockCid")) {
                        uint32_t v;

                        assert(sd_bus_message_read(m, "v", "u", &v) > 0);
                        if (streq(name, "Number")) {
                                assert(v == number);
                                seen_number = true;
                        } else if (streq(name, "Owner")) {
                                assert(v == (uint32_t) geteuid());
                                seen_owner = true;
                        } else
                                assert(v == slot_vsock_cid(number));
                } else if (streq(name, "Taps")) {
                        char want[IFNAMSIZ];
                        const char *v;

                        assert(sd_bus_message_enter_container(m, 'v', "as") > 0);
                        assert(sd_bus_message_enter_container(m, 'a', "s") > 0);
                        assert(sd_bus_message_read(m, "s", &v) > 0);
                        assert(slot_tap_name(number, TAP_ETHERNET, want) >= 0);
                        assert(streq(v, want));
                        assert(sd_bus_message_skip(m, "ss") >= 0);
                        assert(sd_bus_message_exit_container(m) > 0);
                        assert(sd_bus_message_exit_container(m) > 0);
                        seen_taps = true;
                } else if (streq(name, "RuntimeDirectory")) {
                        const char *v;

                        assert(sd_bus_message_read(m, "v", "s", &v) > 0);
                        assert(streq(v, runtime_dir));
                        seen_dir = true;
                } else
                        assert(sd_bus_message_skip(m, "v") >= 0);
                assert(sd_bus_message_exit_container(m) > 0);
        }
        assert(sd_bus_message_exit_container(m) > 0);
        assert(seen_state && seen_number && seen_owner && seen_taps && seen_dir);
}

static void test_managed_objects_and_list(void) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *p1 = instance_path(1), *p4 = instance_path(4);
        Instance *i1 = add_instance(1), *i4 = add_instance(4);
        unsigned n_paths = 0, mask = 0;
        const char *path, *interface, *state, *reason, *o;
        uint32_t number, owner;

        instance_enter_created(i4);
        settle();
        n_seen = 0;

        reply = call(MANAGER_PATH, OBJECT_MANAGER_INTERFACE, "GetManagedObjects", NULL);
        expect_success(reply);
        seen_expect("reply GetManagedObjects", NULL);
        assert(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}") > 0);
        while (sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}") > 0) {
                bool ours = false;

                unsigned number_here;

                /* The objects below the ObjectManager, each once: the instances. */
                assert(sd_bus_message_read(reply, "o", &path) > 0);
                assert(streq(path, p1) || streq(path, p4));
                number_here = streq(path, p1) ? 1 : 4;
                assert(!(mask & (1u << number_here)));
                mask |= 1u << number_here;
                assert(sd_bus_message_enter_container(reply, 'a', "{sa{sv}}") > 0);
                while (sd_bus_message_enter_container(reply, 'e', "sa{sv}") > 0) {
                        assert(sd_bus_message_read(reply, "s", &interface) > 0);
                        if (streq(interface, INSTANCE_INTERFACE)) {
                                assert(!ours);
                                ours = true;
                                check_instance_properties(
                                                reply,
                                                number_here,
                                                number_here == 1 ? "creating" : "stopped");
                        } else {
                                /* Only the standard ones besides. */
                                assert(!interface_is_ours(interface));
                                assert(sd_bus_message_skip(reply, "a{sv}") >= 0);
                        }
                        assert(sd_bus_message_exit_container(reply) > 0);
                }
                assert(sd_bus_message_exit_container(reply) > 0);
                assert(sd_bus_message_exit_container(reply) > 0);
                assert(ours);
                n_paths++;
        }
        assert(sd_bus_message_exit_container(reply) > 0);
        assert(n_paths == 2);
        reply = sd_bus_message_unref(reply);

        /* The Manager itself, by GetAll: the ObjectManager lists the objects below it. */
        reply = call(MANAGER_PATH, PROPERTIES_INTERFACE, "GetAll", "s", MANAGER_INTERFACE);
        expect_success(reply);
        seen_expect("reply GetAll", NULL);
        {
                char line[256] = "";

                format_properties(reply, line, sizeof(line));
                assert(streq(line, " NetworkState=down InstanceCount=2"));
        }
        reply = sd_bus_message_unref(reply);
        assert(get_u(MANAGER_PATH, MANAGER_INTERFACE, "Slots") == manager->config.net.n_slots);

        /* ListInstances(): by number. */
        reply = call(MANAGER_PATH, MANAGER_INTERFACE, "ListInstances", NULL);
        expect_success(reply);
        seen_expect("reply ListInstances", NULL);
        assert(sd_bus_message_enter_container(reply, 'a', "(uusso)") > 0);
        assert(sd_bus_message_read(reply, "(uusso)", &number, &owner, &state, &reason, &o) > 0);
        assert(number == 1 && owner == (uint32_t) geteuid() && streq(state, "creating") &&
               streq(reason, "requested") && streq(o, p1));
        assert(sd_bus_message_read(reply, "(uusso)", &number, &owner, &state, &reason, &o) > 0);
        assert(number == 4 && owner == (uint32_t) geteuid() && streq(state, "stopped") &&
               streq(reason, "requested") && streq(o, p4));
        assert(sd_bus_message_read(reply, "(uusso)", &number, &owner, &state, &reason, &o) == 0);
        assert(sd_bus_message_exit_container(reply) > 0);
        reply = sd_bus_message_unref(reply);

        /* GetInstance(): the path. */
        reply = call(MANAGER_PATH, MANAGER_INTERFACE, "GetInstance", "u", 4);
        expect_success(reply);
        seen_expect("reply GetInstance", NULL);
        assert(sd_bus_message_read(reply, "o", &o) > 0);
        assert(streq(o, p4));
        reply = sd_bus_message_unref(reply);

        manager_remove_instance(manager, i1);
        manager_remove_instance(manager, i4);
        settle();
        n_seen = 0;

        /* Nothing left: both lists are empty. */
        reply = call(MANAGER_PATH, MANAGER_INTERFACE, "ListInstances", NULL);
        expect_success(reply);
        assert(sd_bus_message_enter_container(reply, 'a', "(uusso)") > 0);
        assert(sd_bus_message_read(reply, "(uusso)", &number, &owner, &state, &reason, &o) == 0);
        reply = sd_bus_message_unref(reply);
        reply = call(MANAGER_PATH, OBJECT_MANAGER_INTERFACE, "GetManagedObjects", NULL);
        expect_success(reply);
        assert(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}") > 0);
        assert(sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}") == 0);
        seen_expect("reply ListInstances", "reply GetManagedObjects", NULL);
}

/* The two ends of a socketpair on the Manager's loop: the server with the daemon's objects. */
static void connect_buses(void) {
        int fds[2];
        sd_id128_t id;

        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        assert(sd_id128_randomize(&id) >= 0);

        assert(sd_bus_new(&manager->bus) >= 0);
        assert(sd_bus_set_fd(manager->bus, fds[0], fds[0]) >= 0);
        assert(sd_bus_set_server(manager->bus, 1, id) >= 0);
        assert(sd_bus_error_add_map(cf_bus_errors) >= 0);
        assert(bus_register_objects(manager, manager->bus) >= 0);
        assert(sd_bus_start(manager->bus) >= 0);
        assert(sd_bus_attach_event(manager->bus, manager->event, SD_EVENT_PRIORITY_NORMAL) >= 0);

        assert(sd_bus_new(&client) >= 0);
        assert(sd_bus_set_fd(client, fds[1], fds[1]) >= 0);
        assert(sd_bus_add_filter(client, NULL, on_signal, NULL) >= 0);
        assert(sd_bus_start(client) >= 0);
        assert(sd_bus_attach_event(client, manager->event, SD_EVENT_PRIORITY_NORMAL) >= 0);

        /* The authentication handshake. */
        RUN_UNTIL(sd_bus_is_ready(manager->bus) > 0 && sd_bus_is_ready(client) > 0);
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "Usage: %s DBUS-XML-DIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        dbus_dir = argv[1];
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);
        manager = test_manager_new("manager-bus");
        fake_vmm_reset();
        fake.graceful_ok = true; /* the guests power off when asked */
        connect_buses();

        test_introspection();
        test_bad_input();
        test_signals();
        /* The instance watches its VMM with a pidfd, which valgrind 3.19 does not know
         * (ENOSYS): under it, the one case with a VMM is left out, the rest still runs. */
        int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        if (fd >= 0 || errno != ENOSYS)
                test_start_stop();
        else
                fprintf(stderr, "test-manager-bus: no pidfd_open() here, Start()/Stop() not checked\n");
        safe_close(fd);
        test_managed_objects_and_list();

        settle();
        client = sd_bus_flush_close_unref(client);
        test_manager_free(TAKE_PTR(manager));
        printf("test-manager-bus: the bus face as the contract says\n");
        return 0;
}
