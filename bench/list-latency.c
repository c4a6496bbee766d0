/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* list-latency: times calls to cuttlefish-host-resourcesd over one system-bus connection, so the
 * figures hold no process start-up or bus handshake (busctl spends a few milliseconds on those).
 * Prints one round trip per line, in microseconds.
 *
 *   list-latency list COUNT                  ListInstances, COUNT times
 *   list-latency create N KERNEL [ARG...]    CreateInstance number=1..N, one after another, with
 *                                            kernel=KERNEL, cpus=1, memory_mb=128,
 *                                            extra_args=[ARG...]; the daemon replies once the
 *                                            VMM has exec'd
 *   list-latency remove N                    RemoveInstance 1..N
 *
 * Used by bench/instances.sh; not a test. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "macro.h"

#define BUS_NAME "org.cuttlefish.HostResources1"
#define MANAGER_PATH "/org/cuttlefish/HostResources1"
#define MANAGER_INTERFACE "org.cuttlefish.HostResources1.Manager"

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int parse_count(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || v == 0 || v > 100000)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* Sends m and waits for the reply; prints the round trip. */
static int timed_call(sd_bus *bus, sd_bus_message *m, const char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t t0, t1;
        int r;

        t0 = now_usec();
        r = sd_bus_call(bus, m, 120 * 1000000ULL, &error, &reply);
        t1 = now_usec();
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", what, error.message ?: strerror(-r));
                return r;
        }
        printf("%llu\n", (unsigned long long) (t1 - t0));
        return 0;
}

static int do_list(sd_bus *bus, unsigned count) {
        int r;

        for (unsigned k = 0; k < count; k++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "ListInstances");
                if (r < 0)
                        return r;
                r = timed_call(bus, m, "ListInstances");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int do_create(sd_bus *bus, unsigned n, const char *kernel, char **args) {
        int r;

        for (unsigned number = 1; number <= n; number++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "CreateInstance");
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "{sv}{sv}", "number", "u", number, "kernel", "s", kernel);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "{sv}{sv}", "cpus", "u", 1, "memory_mb", "u", 128);
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "s", "extra_args");
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(m, 'v', "as");
                if (r < 0)
                        return r;
                r = sd_bus_message_append_strv(m, args);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
                r = timed_call(bus, m, "CreateInstance");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int do_remove(sd_bus *bus, unsigned n) {
        int r;

        for (unsigned number = 1; number <= n; number++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "RemoveInstance");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "u", number);
                if (r < 0)
                        return r;
                r = timed_call(bus, m, "RemoveInstance");
                if (r < 0)
                        return r;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        unsigned n;
        int r;

        if (argc < 3 || parse_count(argv[2], &n) < 0 || (strcmp(argv[1], "create") == 0 && argc < 4)) {
                fprintf(stderr, "Usage: %s list COUNT | create N KERNEL [ARG...] | remove N\n", argv[0]);
                return 2;
        }

        r = sd_bus_default_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to the system bus: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        if (strcmp(argv[1], "list") == 0)
                r = do_list(bus, n);
        else if (strcmp(argv[1], "create") == 0)
                r = do_create(bus, n, argv[3], argv + 4);
        else if (strcmp(argv[1], "remove") == 0)
                r = do_remove(bus, n);
        else {
                fprintf(stderr, "Unknown verb '%s'.\n", argv[1]);
                return 2;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
