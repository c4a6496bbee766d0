/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A D-Bus fuzzer for the live daemon: calls every method it finds by introspection (the Manager,
 * instance objects, and the standard Properties/Introspectable/Peer/ObjectManager interfaces)
 * with random arguments, of the right signature or a wrong one, and checks that each call gets a
 * reply (a result or a D-Bus error) within a bound. A missing reply means the daemon hung or
 * crashed: the run fails there, naming the call.
 *
 *   dbus-fuzz [--seed=N] [--calls=N] [--cleanup] [--kernel=PATH --initrd=PATH]
 *
 * With --kernel and --initrd, a third of the CreateInstance calls carry a plausible guest (plus
 * some noise), so instances really start and their methods act on running VMMs.
 * --cleanup removes every instance the caller may remove at the end. It talks to the bus in
 * DBUS_SYSTEM_BUS_ADDRESS. Deterministic for a seed (the daemon's answers aside). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"
#include "common/time-util.h"

#define SERVICE "org.cuttlefish.HostResources1"
#define MANAGER_PATH "/org/cuttlefish/HostResources1"
#define CALL_TIMEOUT_USEC (20 * USEC_PER_SEC)
#define METHODS_MAX 128

typedef struct Method {
        char path[128];
        char interface[128];
        char name[64];
        char signature[64];
} Method;

static Method methods[METHODS_MAX];
static size_t n_methods;
static uint64_t rng_state;

static uint32_t rnd(void) {
        /* xorshift64*: good enough, and reproducible from --seed. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (uint32_t) ((rng_state * 2685821657736338717ULL) >> 32);
}

static uint32_t pick(uint32_t n) {
        return n ? rnd() % n : 0;
}

static const char *const option_keys[] = {
        "backend",
        "number",
        "cpus",
        "memory_mb",
        "kernel",
        "initrd",
        "cmdline",
        "disks",
        "gpu_mode",
        "restart",
        "boot_marker",
        "boot_timeout_sec",
        "extra_args",
        "host_package",
        "images_dir",
        "start",
        "stop_timeout_sec",
        "bios",
        "crosvm_disable_sandbox",
        "unknown_key",
        "",
};

static const char *random_string(char *buf, size_t size) {
        static const char *const pool[] = {
                "",
                "qemu",
                "crosvm",
                "cvd",
                "none",
                "auto",
                "drm_virgl",
                "on-failure",
                "always",
                "no",
                "/nonexistent/kernel",
                "relative/path",
                "../../etc/shadow",
                "/etc/shadow",
                "/dev/zero",
                "/proc/self/mem",
                "-S",
                "--help",
                "console=ttyS0",
                "CF-BOOTED",
                "org.cuttlefish.HostResources1.Manager",
                "org.cuttlefish.HostResources1.Instance",
                "State",
                "Owner",
                "Version",
                "\xc3\xbc\xe2\x82\xac",
        };
        size_t n;

        switch (pick(4)) {
        case 0:
        case 1:
                return pool[pick(ELEMENTSOF(pool))];
        case 2: /* Long: around and beyond the daemon's string limit. */
                n = MIN(size - 1, (size_t) 4090 + pick(20));
                memset(buf, 'A' + pick(26), n);
                buf[n] = 0;
                return buf;
        default: /* Printable ASCII noise. */
                n = MIN(size - 1, (size_t) pick(40));
                for (size_t k = 0; k < n; k++)
                        buf[k] = (char) (' ' + pick(95));
                buf[n] = 0;
                return buf;
        }
}

static uint64_t random_number(void) {
        static const uint64_t edges[] = { 0,
                                          1,
                                          2,
                                          3,
                                          10,
                                          63,
                                          64,
                                          253,
                                          254,
                                          255,
                                          256,
                                          4096,
                                          65535,
                                          65536,
                                          INT32_MAX,
                                          UINT32_MAX,
                                          (uint64_t) INT64_MAX,
                                          UINT64_MAX };
        return pick(3) ? edges[pick(ELEMENTSOF(edges))] : ((uint64_t) rnd() << 32 | rnd());
}

/* Length of the single complete type at the start of sig. */
static size_t type_length(const char *sig) {
        size_t depth = 0, k = 0;

        if (sig[0] == 'a')
                return 1 + type_length(sig + 1);
        if (sig[0] != '(' && sig[0] != '{')
                return sig[0] ? 1 : 0;
        do {
                if (sig[k] == '(' || sig[k] == '{')
                        depth++;
                else if (sig[k] == ')' || sig[k] == '}')
                        depth--;
                k++;
        } while (depth > 0 && sig[k]);
        return k;
}

static int append_value(sd_bus_message *m, const char *type, size_t len, unsigned depth);

static const char *arg_kernel, *arg_initrd;

/* A CreateInstance that can succeed: a real guest (--kernel, --initrd), small and quick to stop. */
static int append_plausible_options(sd_bus_message *m) {
        uint32_t mem = 256, cpus = 1, stop = 1;
        int start = (int) pick(2);

        return sd_bus_message_append(
                        m,
                        "{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                        "kernel",
                        "s",
                        arg_kernel,
                        "initrd",
                        "s",
                        arg_initrd,
                        "cmdline",
                        "s",
                        "console=ttyS0 quiet",
                        "memory_mb",
                        "u",
                        mem,
                        "cpus",
                        "u",
                        cpus,
                        "stop_timeout_sec",
                        "u",
                        stop,
                        "start",
                        "b",
                        start);
}

static int append_options(sd_bus_message *m, unsigned depth) {
        char buf[4200];
        unsigned n = pick(6);
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (depth == 0 && arg_kernel && arg_initrd && pick(3) == 0) {
                r = append_plausible_options(m);
                if (r < 0)
                        return r;
                n = pick(2);
        }
        for (unsigned k = 0; k < n; k++) {
                static const char *const types[] = { "s", "u", "b", "as", "i", "t", "d", "a{sv}", "y", "o" };
                const char *key = pick(8) ? option_keys[pick(ELEMENTSOF(option_keys))]
                                          : random_string(buf, sizeof(buf));
                const char *t = types[pick(ELEMENTSOF(types))];

                if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
                    (r = sd_bus_message_append_basic(m, 's', key)) < 0 ||
                    (r = sd_bus_message_open_container(m, 'v', t)) < 0 ||
                    (r = append_value(m, t, strlen(t), depth + 1)) < 0 ||
                    (r = sd_bus_message_close_container(m)) < 0 ||
                    (r = sd_bus_message_close_container(m)) < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int append_value(sd_bus_message *m, const char *type, size_t len, unsigned depth) {
        char buf[4200], inner[64];
        uint64_t v = random_number();
        int r;

        switch (type[0]) {
        case 'y': {
                uint8_t x = (uint8_t) v;
                return sd_bus_message_append_basic(m, 'y', &x);
        }
        case 'b': {
                int x = (int) (v & 1);
                return sd_bus_message_append_basic(m, 'b', &x);
        }
        case 'n':
        case 'q': {
                uint16_t x = (uint16_t) v;
                return sd_bus_message_append_basic(m, type[0], &x);
        }
        case 'i':
        case 'u': {
                uint32_t x = (uint32_t) v;
                return sd_bus_message_append_basic(m, type[0], &x);
        }
        case 'x':
        case 't':
                return sd_bus_message_append_basic(m, type[0], &v);
        case 'd': {
                double d = (double) (int64_t) v / 3.0;
                return sd_bus_message_append_basic(m, 'd', &d);
        }
        case 's':
                return sd_bus_message_append_basic(m, 's', random_string(buf, sizeof(buf)));
        case 'o':
                return sd_bus_message_append_basic(
                                m, 'o', pick(2) ? "/org/cuttlefish/HostResources1/instance/1" : "/");
        case 'g':
                return sd_bus_message_append_basic(m, 'g', "a{sv}");
        case 'h': {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                r = sd_bus_message_append_basic(m, 'h', &fd);
                safe_close(fd);
                return r;
        }
        case 'v': {
                static const char *const types[] = { "s", "u", "as", "b" };
                const char *t = types[pick(ELEMENTSOF(types))];
                if ((r = sd_bus_message_open_container(m, 'v', t)) < 0 ||
                    (r = append_value(m, t, strlen(t), depth + 1)) < 0)
                        return r;
                return sd_bus_message_close_container(m);
        }
        case 'a': {
                size_t elen = len - 1;
                unsigned n = depth > 2 ? 0 : pick(pick(8) ? 4 : 40);

                if (strncmp(type, "a{sv}", 5) == 0)
                        return append_options(m, depth);
                if (elen >= sizeof(inner))
                        return -E2BIG;
                memcpy(inner, type + 1, elen);
                inner[elen] = 0;
                r = sd_bus_message_open_container(m, 'a', inner);
                if (r < 0)
                        return r;
                for (unsigned k = 0; k < n; k++) {
                        if (inner[0] == '{') {
                                /* A dict entry: key and value inside the braces. */
                                char kv[64];
                                size_t kl;

                                memcpy(kv, inner + 1, elen - 2);
                                kv[elen - 2] = 0;
                                kl = type_length(kv);
                                if ((r = sd_bus_message_open_container(m, 'e', kv)) < 0 ||
                                    (r = append_value(m, kv, kl, depth + 1)) < 0 ||
                                    (r = append_value(m, kv + kl, strlen(kv + kl), depth + 1)) < 0 ||
                                    (r = sd_bus_message_close_container(m)) < 0)
                                        return r;
                        } else if ((r = append_value(m, inner, elen, depth + 1)) < 0)
                                return r;
                }
                return sd_bus_message_close_container(m);
        }
        case '(': {
                if (len - 2 >= sizeof(inner))
                        return -E2BIG;
                memcpy(inner, type + 1, len - 2);
                inner[len - 2] = 0;
                r = sd_bus_message_open_container(m, 'r', inner);
                if (r < 0)
                        return r;
                for (const char *p = inner; *p;) {
                        size_t l = type_length(p);
                        r = append_value(m, p, l, depth + 1);
                        if (r < 0)
                                return r;
                        p += l;
                }
                return sd_bus_message_close_container(m);
        }
        default:
                return -EINVAL;
        }
}

static int append_arguments(sd_bus_message *m, const char *sig) {
        for (const char *p = sig; *p;) {
                size_t l = type_length(p);
                int r = append_value(m, p, l, 0);
                if (r < 0)
                        return r;
                p += l;
        }
        return 0;
}

/* A minimal reader of the introspection XML sd-bus produces: interface, method and in-arg
 * elements, one per line. */
static void learn_methods(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **lines = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char interface[128] = "";
        Method *cur = NULL;
        const char *xml;

        if (sd_bus_call_method(
                            bus,
                            SERVICE,
                            path,
                            "org.freedesktop.DBus.Introspectable",
                            "Introspect",
                            &error,
                            &reply,
                            "") < 0 ||
            sd_bus_message_read(reply, "s", &xml) < 0 || strv_split(xml, "\n", &lines) < 0) {
                sd_bus_error_free(&error);
                return;
        }
        STRV_FOREACH (l, lines) {
                const char *s;
                if ((s = strstr(*l, "<interface name=\"")))
                        (void) sscanf(s, "<interface name=\"%127[^\"]\"", interface);
                else if ((s = strstr(*l, "<method name=\"")) && n_methods < METHODS_MAX) {
                        cur = &methods[n_methods++];
                        *cur = (Method){};
                        (void) snprintf(cur->path, sizeof(cur->path), "%s", path);
                        (void) snprintf(cur->interface, sizeof(cur->interface), "%s", interface);
                        (void) sscanf(s, "<method name=\"%63[^\"]\"", cur->name);
                } else if ((s = strstr(*l, "<arg type=\"")) && cur && strstr(*l, "direction=\"in\"")) {
                        char t[64] = "";
                        (void) sscanf(s, "<arg type=\"%63[^\"]\"", t);
                        if (strlen(cur->signature) + strlen(t) < sizeof(cur->signature))
                                strcat(cur->signature, t);
                } else if (strstr(*l, "</method>"))
                        cur = NULL;
        }
        sd_bus_error_free(&error);
}

static int remove_all(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t number, uid;
        const char *state, *backend, *path;
        unsigned removed = 0;
        int r;

        r = sd_bus_call_method(
                        bus, SERVICE, MANAGER_PATH, SERVICE ".Manager", "ListInstances", &error, &reply, "");
        if (r < 0) {
                fprintf(stderr, "ListInstances failed: %s\n", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(uusso)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(uusso)", &number, &uid, &state, &backend, &path)) > 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                if (sd_bus_call_method(
                                    bus,
                                    SERVICE,
                                    MANAGER_PATH,
                                    SERVICE ".Manager",
                                    "RemoveInstance",
                                    &error,
                                    &m,
                                    "u",
                                    number) >= 0)
                        removed++;
                sd_bus_error_free(&error);
        }
        printf("removed %u instances\n", removed);
        return r;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "seed", required_argument, NULL, 's' },   { "calls", required_argument, NULL, 'n' },
                { "cleanup", no_argument, NULL, 'c' },      { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' }, {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        uint32_t seed = 1, calls = 1000;
        unsigned errors = 0, ok = 0, wrong = 0;
        bool cleanup = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        if (parse_uint32(optarg, &seed) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'n':
                        if (parse_uint32(optarg, &calls) < 0)
                                return EXIT_FAILURE;
                        break;
                case 'c':
                        cleanup = true;
                        break;
                case 'k':
                        arg_kernel = optarg;
                        break;
                case 'i':
                        arg_initrd = optarg;
                        break;
                default:
                        return EXIT_FAILURE;
                }
        rng_state = 0x9E3779B97F4A7C15ULL ^ seed;

        r = sd_bus_default_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to the system bus: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        /* Non-interactive: a polkit question is answered at once, never waited on. */
        learn_methods(bus, MANAGER_PATH);
        learn_methods(bus, MANAGER_PATH "/instance/1");
        if (n_methods == 0) {
                fprintf(stderr, "No methods found on %s: is the daemon running?\n", MANAGER_PATH);
                return EXIT_FAILURE;
        }
        printf("seed %u, %zu methods, %u calls\n", seed, n_methods, calls);

        for (uint32_t k = 0; k < calls; k++) {
                static const char *const wrong_sigs[] = { "",      "s",     "u",  "i",      "b",  "as",
                                                          "a{sv}", "a{ss}", "v",  "(su)",   "x",  "ay",
                                                          "o",     "h",     "su", "a{sv}s", "uu", "d" };
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                const Method *me = &methods[pick(n_methods)];
                char path[128];
                const char *sig = me->signature;

                /* Instance methods on existing, missing and malformed object paths. */
                if (strstr(me->path, "/instance/")) {
                        static const char *const suffixes[] = { "1",   "2",   "3",   "0",
                                                                "254", "999", "abc", "1/x" };
                        (void) snprintf(path,
                                        sizeof(path),
                                        MANAGER_PATH "/instance/%s",
                                        suffixes[pick(ELEMENTSOF(suffixes))]);
                } else
                        (void) snprintf(path, sizeof(path), "%s", me->path);
                if (pick(4) == 0) {
                        sig = wrong_sigs[pick(ELEMENTSOF(wrong_sigs))];
                        wrong++;
                }
                r = sd_bus_message_new_method_call(bus, &m, SERVICE, path, me->interface, me->name);
                if (r >= 0)
                        r = append_arguments(m, sig);
                if (r < 0) {
                        fprintf(stderr,
                                "cannot build %s.%s(%s): %s\n",
                                me->interface,
                                me->name,
                                sig,
                                strerror(-r));
                        return EXIT_FAILURE;
                }
                r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
                if (r >= 0)
                        ok++;
                else if (sd_bus_error_has_names(
                                         &error,
                                         SD_BUS_ERROR_NO_REPLY,
                                         SD_BUS_ERROR_TIMEOUT,
                                         SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                         SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                         !sd_bus_error_is_set(&error)) {
                        fprintf(stderr,
                                "call %u: %s %s.%s(%s) got no answer: %s\n",
                                k,
                                path,
                                me->interface,
                                me->name,
                                sig,
                                error.message ?: strerror(-r));
                        sd_bus_error_free(&error);
                        return EXIT_FAILURE;
                } else
                        errors++;
                if (getenv("FUZZ_SHOW"))
                        printf("%s %s.%s(%s) -> %s\n",
                               path,
                               me->interface,
                               me->name,
                               sig,
                               r >= 0 ? "ok" : error.name);
                sd_bus_error_free(&error);
        }
        printf("%u calls: %u succeeded, %u errors (%u with a wrong signature)\n", calls, ok, errors, wrong);
        if (cleanup && remove_all(bus) < 0)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
