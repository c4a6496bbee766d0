/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* spawn-latency: how long a device takes to be "running", against the floor of QEMU itself.
 * Used by bench/spawn.sh; not a test. Prints "key value" lines, microseconds.
 *
 *   spawn-latency floor COUNT PAR KERNEL [ARG...]
 *       Bare QEMU, no daemon, no sandbox: COUNT times one after another, then PAR at once. Each
 *       QEMU gets the argv the daemon gives its guests (three tap fds, -kernel, 1 vCPU, 128 MiB,
 *       ARG...), its QMP monitor on a listening socket made before the fork, which is connected
 *       to at once; timed from before its taps are opened to the QMP greeting's arrival and to
 *       the answer to qmp_capabilities (what the daemon waits for before "running"). The taps
 *       are the tool's own, non-persistent (they vanish with their last fd).
 *   spawn-latency ours COUNT PAR KERNEL [ARG...]
 *       The daemon on the system bus: CreateInstance number=1 with the same options, timed to its
 *       reply and to the instance's State=running (PropertiesChanged), then RemoveInstance,
 *       COUNT times; then PAR CreateInstance calls in flight at once, until all are running.
 *
 * COUNT or PAR may be 0 (bench/spawn.sh alternates floor and ours one round at a time).
 * Output: floor_seq_greeting_us / floor_seq_us (greeting, then the answer to qmp_capabilities,
 * which QEMU gives once its main loop runs) / ours_seq_reply_us / ours_seq_running_us, one line per
 * round; then floor_par_greeting_us / floor_par_us (first fork to the last greeting / answer),
 * ours_par_reply_us (to the last reply) and ours_par_running_us (to the last State=running). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "common/macro.h"

#define BUS_NAME "org.cuttlefish.HostResources1"
#define MANAGER_PATH "/org/cuttlefish/HostResources1"
#define MANAGER_INTERFACE "org.cuttlefish.HostResources1.Manager"
#define INSTANCE_INTERFACE "org.cuttlefish.HostResources1.Instance"
#define PAR_MAX 64
#define TIMEOUT_USEC (120 * 1000000ULL)

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int parse_count(const char *s, unsigned max, unsigned *ret) { /* 0 .. max */
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* The floor */

typedef struct Vmm {
        pid_t pid;
        int qmp; /* our connected end */
        uint64_t t0;
        uint64_t greeted;  /* its QMP greeting came */
        uint64_t answered; /* it answered qmp_capabilities: its main loop runs */
} Vmm;

static int tap_new(unsigned id, unsigned k) {
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        (void) snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "cfbench%u.%u", id, k);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int qmp_listener(const char *dir, unsigned id, int *ret_client) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int l, c;

        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp-%u.sock", dir, id);
        (void) unlink(sa.sun_path);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0)
                return -errno;
        if (bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
                goto fail;
        c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c < 0)
                goto fail;
        if (connect(c, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(c);
                goto fail;
        }
        (void) unlink(sa.sun_path);
        *ret_client = c;
        return l;
fail:;
        int r = -errno;
        close(l);
        return r;
}

/* fds 3, 4, 5: taps; 6: the QMP listener. */
static char **floor_argv(const char *kernel, char **extra) {
        /* clang-format off */
        static const char *const fixed[] = {
                "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg",
                "-cpu", "max", "-m", "128", "-smp", "1",
                "-netdev", "tap,id=net0,fd=3", "-device", "virtio-net-pci,netdev=net0,mac=00:1a:11:e1:cf:00",
                "-netdev", "tap,id=net1,fd=4", "-device", "virtio-net-pci,netdev=net1,mac=00:1a:11:e2:cf:00",
                "-netdev", "tap,id=net2,fd=5", "-device", "virtio-net-pci,netdev=net2,mac=00:1a:11:e0:cf:00",
                "-chardev", "socket,id=qmp,fd=6,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
                "-serial", "stdio",
                "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        };
        /* clang-format on */
        size_t n = ELEMENTSOF(fixed), m = 0;
        char **argv;

        while (extra[m])
                m++;
        argv = calloc(n + m + 3, sizeof(char *));
        if (!argv)
                return NULL;
        memcpy(argv, fixed, n * sizeof(char *));
        argv[n++] = (char *) "-kernel"; /* (execvp() takes char *const *) */
        argv[n++] = (char *) kernel;
        memcpy(argv + n, extra, m * sizeof(char *));
        return argv;
}

static int vmm_start(Vmm *v, unsigned id, const char *dir, char **argv) {
        int fds[4] = { -1, -1, -1, -1 }, r = 0;

        v->t0 = now_usec();
        v->greeted = v->answered = 0;
        for (unsigned k = 0; k < 3 && r >= 0; k++)
                r = fds[k] = tap_new(id, k);
        if (r >= 0)
                r = fds[3] = qmp_listener(dir, id, &v->qmp);
        if (r >= 0) {
                v->pid = fork();
                if (v->pid < 0)
                        r = -errno;
                else if (v->pid == 0) {
                        int null = open("/dev/null", O_RDWR);

                        for (unsigned k = 0; k < 4; k++)
                                /* (dup2() onto itself keeps FD_CLOEXEC: cleared by hand.) */
                                if (dup2(fds[k], 3 + (int) k) < 0 || fcntl(3 + (int) k, F_SETFD, 0) < 0)
                                        _exit(126);
                        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
                                _exit(126);
                        execvp(argv[0], argv);
                        _exit(127);
                }
        }
        for (unsigned k = 0; k < 4; k++)
                if (fds[k] >= 0)
                        close(fds[k]);
        return r;
}

static void vmm_end(Vmm *v) {
        if (v->pid > 0) {
                (void) kill(v->pid, SIGKILL);
                (void) waitpid(v->pid, NULL, 0);
        }
        if (v->qmp >= 0)
                close(v->qmp);
        *v = (Vmm){ .qmp = -1 };
}

/* Until every one has greeted and answered qmp_capabilities (the command runs in QEMU's main
 * loop, the greeting comes from the monitor's own thread as soon as it accepts). */
static int vmm_wait_ready(Vmm *v, unsigned n) {
        static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\r\n";
        uint64_t deadline = now_usec() + TIMEOUT_USEC;
        unsigned left = n;

        while (left > 0) {
                struct pollfd p[PAR_MAX];

                for (unsigned k = 0; k < n; k++)
                        p[k] = (struct pollfd){ .fd = v[k].answered ? -1 : v[k].qmp, .events = POLLIN };
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                if (poll(p, n, 1000) < 0 && errno != EINTR)
                        return -errno;
                for (unsigned k = 0; k < n; k++) {
                        char buf[4096];
                        ssize_t l;

                        if (v[k].answered || !(p[k].revents & (POLLIN | POLLHUP)))
                                continue;
                        l = read(v[k].qmp, buf, sizeof(buf) - 1);
                        if (l <= 0) {
                                fprintf(stderr,
                                        "QEMU %i closed its monitor (did it start?)\n",
                                        (int) v[k].pid);
                                return -EIO;
                        }
                        buf[l] = 0;
                        if (!v[k].greeted && strstr(buf, "\"QMP\"")) {
                                v[k].greeted = now_usec();
                                if (write(v[k].qmp, caps, sizeof(caps) - 1) != (ssize_t) sizeof(caps) - 1)
                                        return -EIO;
                        }
                        if (v[k].greeted && strstr(buf, "\"return\"")) {
                                v[k].answered = now_usec();
                                left--;
                        }
                }
        }
        return 0;
}

static int do_floor(unsigned count, unsigned par, const char *kernel, char **extra) {
        char dir[] = "/var/tmp/cfbench-floor.XXXXXX";
        _cleanup_free_ char **argv = floor_argv(kernel, extra);
        Vmm v[PAR_MAX];
        uint64_t t0;
        int r = 0;

        if (!argv || !mkdtemp(dir))
                return -errno;
        for (unsigned k = 0; k < PAR_MAX; k++)
                v[k] = (Vmm){ .qmp = -1 };
        for (unsigned round = 0; round < count && r >= 0; round++) {
                r = vmm_start(&v[0], 0, dir, argv);
                if (r >= 0)
                        r = vmm_wait_ready(v, 1);
                if (r >= 0)
                        printf("floor_seq_greeting_us %llu\nfloor_seq_us %llu\n",
                               (unsigned long long) (v[0].greeted - v[0].t0),
                               (unsigned long long) (v[0].answered - v[0].t0));
                vmm_end(&v[0]);
        }
        if (par == 0 || r < 0)
                goto done;
        t0 = now_usec();
        for (unsigned k = 0; k < par && r >= 0; k++)
                r = vmm_start(&v[k], k, dir, argv);
        if (r >= 0)
                r = vmm_wait_ready(v, par);
        if (r >= 0) {
                uint64_t last_greeting = 0;

                for (unsigned k = 0; k < par; k++)
                        last_greeting = MAX(last_greeting, v[k].greeted);
                printf("floor_par_greeting_us %llu\nfloor_par_us %llu\n",
                       (unsigned long long) (last_greeting - t0),
                       (unsigned long long) (now_usec() - t0));
        }
        for (unsigned k = 0; k < par; k++)
                vmm_end(&v[k]);
done:
        (void) rmdir(dir);
        if (r < 0)
                fprintf(stderr, "floor: %s\n", strerror(-r));
        return r;
}

/* Ours */

typedef struct Pending {
        unsigned number;
        uint64_t t0, replied, running;
        bool failed;
} Pending;

typedef struct Run {
        Pending p[PAR_MAX];
        unsigned n;
} Run;

static Pending *run_find(Run *run, const char *path) {
        const char *leaf = strrchr(path, '/');
        unsigned number;

        if (!leaf || parse_count(leaf + 1, 100000, &number) < 0)
                return NULL;
        for (unsigned k = 0; k < run->n; k++)
                if (run->p[k].number == number)
                        return &run->p[k];
        return NULL;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Run *run = userdata;
        Pending *p = run_find(run, sd_bus_message_get_path(m));
        const char *iface, *name, *state;

        if (!p || p->running)
                return 0;
        if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, INSTANCE_INTERFACE) != 0 ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (strcmp(name, "State") == 0 && sd_bus_message_read(m, "v", "s", &state) >= 0) {
                        if (strcmp(state, "running") == 0)
                                p->running = now_usec();
                        else if (strcmp(state, "failed") == 0 || strcmp(state, "stopped") == 0)
                                p->failed = true;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        return 0;
}

static int on_create_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        p->replied = now_usec();
        if (e) {
                fprintf(stderr, "CreateInstance %u: %s\n", p->number, e->message ?: e->name);
                p->failed = true;
        }
        return 0;
}

static int create_send(sd_bus *bus, Pending *p, const char *kernel, char **extra) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(
                        bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "CreateInstance");
        if (r < 0)
                return r;
        if ((r = sd_bus_message_open_container(m, 'a', "{sv}")) < 0 ||
            (r = sd_bus_message_append(
                             m,
                             "{sv}{sv}{sv}{sv}",
                             "number",
                             "u",
                             p->number,
                             "kernel",
                             "s",
                             kernel,
                             "cpus",
                             "u",
                             1,
                             "memory_mb",
                             "u",
                             128)) < 0 ||
            (r = sd_bus_message_open_container(m, 'e', "sv")) < 0 ||
            (r = sd_bus_message_append(m, "s", "extra_args")) < 0 ||
            (r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
            (r = sd_bus_message_append_strv(m, extra)) < 0 || (r = sd_bus_message_close_container(m)) < 0 ||
            (r = sd_bus_message_close_container(m)) < 0 || (r = sd_bus_message_close_container(m)) < 0)
                return r;
        p->t0 = now_usec();
        p->replied = p->running = 0;
        p->failed = false;
        return sd_bus_call_async(bus, NULL, m, on_create_reply, p, TIMEOUT_USEC);
}

static bool run_done(const Run *run) {
        for (unsigned k = 0; k < run->n; k++)
                if (!run->p[k].failed && (!run->p[k].replied || !run->p[k].running))
                        return false;
        return true;
}

static int run_wait(sd_bus *bus, Run *run) {
        uint64_t deadline = now_usec() + TIMEOUT_USEC;

        while (!run_done(run)) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, 1000000);
                if (r < 0)
                        return r;
        }
        for (unsigned k = 0; k < run->n; k++)
                if (run->p[k].failed)
                        return -EIO;
        return 0;
}

static int remove_all(sd_bus *bus, const Run *run) {
        for (unsigned k = 0; k < run->n; k++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(
                                bus,
                                BUS_NAME,
                                MANAGER_PATH,
                                MANAGER_INTERFACE,
                                "RemoveInstance",
                                &e,
                                NULL,
                                "u",
                                run->p[k].number);
                if (r < 0) {
                        fprintf(stderr,
                                "RemoveInstance %u: %s\n",
                                run->p[k].number,
                                e.message ?: strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int do_ours(unsigned count, unsigned par, const char *kernel, char **extra) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Run run = {};
        uint64_t t0, last_reply = 0, last_running = 0;
        int r;

        r = sd_bus_default_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(
                        bus,
                        NULL,
                        BUS_NAME,
                        NULL,
                        "org.freedesktop.DBus.Properties",
                        "PropertiesChanged",
                        on_properties_changed,
                        &run);
        if (r < 0)
                return r;
        run.n = 1;
        run.p[0].number = 1;
        for (unsigned round = 0; round < count; round++) {
                r = create_send(bus, &run.p[0], kernel, extra);
                if (r >= 0)
                        r = run_wait(bus, &run);
                if (r < 0)
                        return r;
                printf("ours_seq_reply_us %llu\n", (unsigned long long) (run.p[0].replied - run.p[0].t0));
                printf("ours_seq_running_us %llu\n", (unsigned long long) (run.p[0].running - run.p[0].t0));
                fflush(stdout);
                r = remove_all(bus, &run);
                if (r < 0)
                        return r;
        }
        if (par == 0)
                return 0;
        run.n = par;
        t0 = now_usec();
        for (unsigned k = 0; k < par; k++) {
                run.p[k].number = k + 1;
                r = create_send(bus, &run.p[k], kernel, extra);
                if (r < 0)
                        return r;
        }
        r = run_wait(bus, &run);
        if (r < 0)
                return r;
        for (unsigned k = 0; k < par; k++) {
                last_reply = MAX(last_reply, run.p[k].replied);
                last_running = MAX(last_running, run.p[k].running);
        }
        printf("ours_par_reply_us %llu\n", (unsigned long long) (last_reply - t0));
        printf("ours_par_running_us %llu\n", (unsigned long long) (last_running - t0));
        return remove_all(bus, &run);
}

int main(int argc, char *argv[]) {
        unsigned count, par;
        int r;

        if (argc < 5 || parse_count(argv[2], 100000, &count) < 0 ||
            parse_count(argv[3], PAR_MAX, &par) < 0) {
                fprintf(stderr, "Usage: %s floor|ours COUNT PAR KERNEL [ARG...]\n", argv[0]);
                return 2;
        }
        if (strcmp(argv[1], "floor") == 0)
                r = do_floor(count, par, argv[4], argv + 5);
        else if (strcmp(argv[1], "ours") == 0)
                r = do_ours(count, par, argv[4], argv + 5);
        else {
                fprintf(stderr, "Unknown mode '%s'.\n", argv[1]);
                return 2;
        }
        if (r < 0)
                fprintf(stderr, "%s: %s\n", argv[1], strerror(-r));
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
