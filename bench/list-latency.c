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
 * Concurrent modes (calls in flight at once on the one connection; one line per reply, then
 * "wall_us W" for the whole batch on stderr):
 *   list-latency pcreate N KERNEL [ARG...]   N CreateInstance at once, lowest free slots
 *   list-latency plist COUNT DEPTH           COUNT ListInstances, DEPTH in flight at a time
 *   list-latency premove                     RemoveInstance of every instance the caller owns,
 *                                            all at once
 *
 * Used by bench/instances.sh and tests/load/; not a test itself. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "common/macro.h"

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
        uint64_t t0 = now_usec();
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
        fprintf(stderr, "wall_us %llu\n", (unsigned long long) (now_usec() - t0));
        return 0;
}

static int create_message(
                sd_bus *bus, unsigned number, const char *kernel, char **args, sd_bus_message **ret);

static int do_create(sd_bus *bus, unsigned n, const char *kernel, char **args) {
        int r;

        for (unsigned number = 1; number <= n; number++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = create_message(bus, number, kernel, args, &m);
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

/* Concurrent calls: each carries its send time; replies are counted and timed as they come. */
typedef struct Batch {
        unsigned sent, done, failed;
} Batch;

typedef struct Pending {
        Batch *batch;
        uint64_t t0;
        const char *what;
} Pending;

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e) {
                fprintf(stderr, "%s: %s\n", p->what, e->message ?: e->name);
                p->batch->failed++;
        } else
                printf("%llu\n", (unsigned long long) (now_usec() - p->t0));
        p->batch->done++;
        free(p);
        return 0;
}

static int send_async(sd_bus *bus, sd_bus_message *m, Batch *b, const char *what) {
        Pending *p = calloc(1, sizeof(Pending));
        int r;

        if (!p)
                return -ENOMEM;
        *p = (Pending){ .batch = b, .t0 = now_usec(), .what = what };
        r = sd_bus_call_async(bus, NULL, m, on_reply, p, 300 * 1000000ULL);
        if (r < 0) {
                free(p);
                return r;
        }
        b->sent++;
        return 0;
}

static int run_until(sd_bus *bus, Batch *b, unsigned target) {
        while (b->done < target) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int create_message(
                sd_bus *bus, unsigned number, const char *kernel, char **args, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(
                        bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "CreateInstance");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (number > 0 && (r = sd_bus_message_append(m, "{sv}", "number", "u", number)) < 0)
                return r;
        r = sd_bus_message_append(
                        m, "{sv}{sv}{sv}", "kernel", "s", kernel, "cpus", "u", 1, "memory_mb", "u", 128);
        if (r < 0)
                return r;
        if ((r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
            (r = sd_bus_message_append(m, "s", "extra_args")) < 0 ||
            (r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
            (r = sd_bus_message_append_strv(m, args)) < 0 || (r = sd_bus_message_close_container(m)) < 0 ||
            (r = sd_bus_message_close_container(m)) < 0 || (r = sd_bus_message_close_container(m)) < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int do_pcreate(sd_bus *bus, unsigned n, const char *kernel, char **args) {
        Batch b = {};
        uint64_t t0 = now_usec();
        int r;

        for (unsigned k = 0; k < n; k++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = create_message(bus, 0, kernel, args, &m);
                if (r < 0)
                        return r;
                r = send_async(bus, m, &b, "CreateInstance");
                if (r < 0)
                        return r;
        }
        r = run_until(bus, &b, n);
        fprintf(stderr, "wall_us %llu\n", (unsigned long long) (now_usec() - t0));
        return r < 0 ? r : b.failed ? -EIO : 0;
}

static int do_plist(sd_bus *bus, unsigned count, unsigned depth) {
        Batch b = {};
        uint64_t t0 = now_usec();
        int r;

        while (b.sent < count) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "ListInstances");
                if (r < 0)
                        return r;
                r = send_async(bus, m, &b, "ListInstances");
                if (r < 0)
                        return r;
                if (b.sent - b.done >= depth && (r = run_until(bus, &b, b.done + 1)) < 0)
                        return r;
        }
        r = run_until(bus, &b, count);
        fprintf(stderr, "wall_us %llu\n", (unsigned long long) (now_usec() - t0));
        return r < 0 ? r : b.failed ? -EIO : 0;
}

static int do_premove(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *state, *backend, *path;
        uint32_t number, owner;
        uint64_t t0;
        Batch b = {};
        int r;

        r = sd_bus_call_method(
                        bus, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "ListInstances", &error, &reply, "");
        if (r < 0) {
                fprintf(stderr, "ListInstances: %s\n", error.message ?: strerror(-r));
                return r;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(uusso)");
        if (r < 0)
                return r;
        t0 = now_usec();
        while ((r = sd_bus_message_read(reply, "(uusso)", &number, &owner, &state, &backend, &path)) > 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                if (owner != getuid())
                        continue;
                r = sd_bus_message_new_method_call(
                                bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "RemoveInstance");
                if (r < 0 || (r = sd_bus_message_append(m, "u", number)) < 0 ||
                    (r = send_async(bus, m, &b, "RemoveInstance")) < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = run_until(bus, &b, b.sent);
        fprintf(stderr, "wall_us %llu\n", (unsigned long long) (now_usec() - t0));
        return r < 0 ? r : b.failed ? -EIO : 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        unsigned n;
        int r;

        unsigned depth = 0;

        if (argc < 2 || (strcmp(argv[1], "premove") != 0 && (argc < 3 || parse_count(argv[2], &n) < 0)) ||
            ((strcmp(argv[1], "create") == 0 || strcmp(argv[1], "pcreate") == 0) && argc < 4) ||
            (strcmp(argv[1], "plist") == 0 && (argc < 4 || parse_count(argv[3], &depth) < 0))) {
                fprintf(stderr,
                        "Usage: %s list COUNT | create N KERNEL [ARG...] | remove N | pcreate N KERNEL [ARG...] | "
                        "plist COUNT DEPTH | premove\n",
                        argv[0]);
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
        else if (strcmp(argv[1], "pcreate") == 0)
                r = do_pcreate(bus, n, argv[3], argv + 4);
        else if (strcmp(argv[1], "plist") == 0)
                r = do_plist(bus, n, depth);
        else if (strcmp(argv[1], "premove") == 0)
                r = do_premove(bus);
        else {
                fprintf(stderr, "Unknown verb '%s'.\n", argv[1]);
                return 2;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
