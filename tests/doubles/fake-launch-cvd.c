/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake-launch-cvd: a TEST DOUBLE for a Cuttlefish host package's launch_cvd, which cannot run here
 * (no KVM, no Android images). Never installed.
 *
 *   fake-launch-cvd FLAGS...
 *       Accepts only the flags the cvd backend uses, in gflags syntax, as launch_cvd defines them
 *       (google/android-cuttlefish base/cvd/cuttlefish/host/commands/start/start_flags.cpp and
 *       assemble_cvd/flags/), and exits 1 (launch_cvd's kArgumentParsingError) on any other.
 *       Like run_cvd it attaches to slot N's taps by name (TUNSETIFF; exit 23, kTapDeviceInUse,
 *       when someone holds one), needs HOME and TMPDIR writable, listens on
 *       $TMPDIR/cf_avd_$UID/cvd-N/launcher_monitor.sock, prints VIRTUAL_DEVICE_BOOT_COMPLETED and
 *       answers the monitor's one-byte actions (host/libs/command_util/runner/defs.h): 'X' stop
 *       -> 'S' and exit 0; 'I' status -> 'S'; 'F' fail -> 'S' and exit 11; anything else 'U'.
 *   fake-launch-cvd fake-send ACTION SOCKET
 *       Test-only client: sends one byte, prints the reply. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

static const char *const known_flags[] = {
        "daemon",
        "base_instance_num",
        "instance_nums",
        "num_instances",
        "report_anonymous_usage_stats",
        "system_image_dir",
        "cpus",
        "memory_mb",
        "gpu_mode",
        "vm_manager",
        NULL,
};

static int fail(int code, const char *fmt, const char *arg) {
        fprintf(stderr, "fake-launch-cvd: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
        return code;
}

static int sock_path(struct sockaddr_un *sa, const char *path) {
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa->sun_path))
                return -1;
        strcpy(sa->sun_path, path);
        return 0;
}

static int send_action(char action, const char *path) {
        struct sockaddr_un sa;
        char reply = 0;
        int fd;

        if (sock_path(&sa, path) < 0)
                return 2;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || write(fd, &action, 1) != 1 ||
            read(fd, &reply, 1) != 1)
                return fail(1, "no answer from %s", path);
        printf("%c\n", reply);
        return 0;
}

/* run_cvd's ValidateTapInterfaceIsUsable: the taps must be free for us to attach to. */
static int check_tap(const char *kind, unsigned n) {
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

        (void) snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "cvd-%s-%02u", kind, n);
        if (fd < 0)
                return fail(2, "cannot open /dev/net/tun: %s", strerror(errno));
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int e = errno;
                close(fd);
                if (e == EBUSY)
                        return fail(23, "%s is in use by another process", ifr.ifr_name);
                fprintf(stderr, "fake-launch-cvd: cannot attach to %s: %s\n", ifr.ifr_name, strerror(e));
                return 2;
        }
        close(fd);
        return 0;
}

static int mkdir_for(const char *path) {
        char buf[4096];

        for (char *p = strcpy(buf, path) + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                        return -1;
                *p = '/';
        }
        return 0;
}

int main(int argc, char **argv) {
        unsigned instance = 1;
        bool foreground = false;
        const char *home = getenv("HOME"), *tmpdir = getenv("TMPDIR");
        char path[4096];
        struct sockaddr_un sa;
        int lfd, r;

        if (argc == 4 && strcmp(argv[1], "fake-send") == 0)
                return send_action(argv[2][0], argv[3]);

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *name, *value;
                size_t len;
                bool known = false;

                if (strncmp(a, "--", 2) != 0 && (a[0] != '-' || a[1] == 0))
                        return fail(1, "unexpected argument '%s'", a);
                name = a + (a[1] == '-' ? 2 : 1);
                value = strchr(name, '=');
                len = value ? (size_t) (value - name) : strlen(name);
                for (const char *const *k = known_flags; *k; k++)
                        known = known || (strlen(*k) == len && strncmp(*k, name, len) == 0);
                if (!known)
                        return fail(1, "ERROR: unknown command line flag '%s'", a);
                if (!value)
                        return fail(1, "flag '%s' is missing its argument", a);
                value++;
                if (strncmp(name, "daemon=", 7) == 0)
                        foreground = strcmp(value, "false") == 0;
                if (strncmp(name, "base_instance_num=", 18) == 0 && (instance = (unsigned) atoi(value)) < 1)
                        return fail(1, "Failed to interpret \"%s\" as an id", value);
        }
        if (!foreground)
                return fail(1, "%s", "the daemon must run launch_cvd with --daemon=false");
        if (!home || !tmpdir || access(home, W_OK) < 0 || access(tmpdir, W_OK) < 0)
                return fail(4, "%s", "HOME and TMPDIR must be writable directories");

        r = check_tap("etap", instance);
        if (!r)
                r = check_tap("wtap", instance);
        if (!r)
                r = check_tap("mtap", instance);
        if (r)
                return r;

        (void) snprintf(path,
                        sizeof(path),
                        "%s/cf_avd_%u/cvd-%u/launcher_monitor.sock",
                        tmpdir,
                        (unsigned) getuid(),
                        instance);
        if (mkdir_for(path) < 0 || sock_path(&sa, path) < 0)
                return fail(13, "cannot create the directory of %s", path);
        (void) unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0)
                return fail(13, "cannot listen on %s", path);
        printf("fake-launch-cvd: instance %u assembled\nVIRTUAL_DEVICE_BOOT_COMPLETED\n", instance);
        fflush(stdout);

        for (;;) {
                char action = 0, reply = 'U';
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), code = -1;

                if (c < 0) {
                        if (errno == EINTR)
                                continue;
                        return 14;
                }
                if (read(c, &action, 1) == 1) {
                        if (action == 'X')
                                reply = 'S', code = 0;
                        else if (action == 'F')
                                reply = 'S', code = 11;
                        else if (action == 'I')
                                reply = 'S';
                }
                (void) !write(c, &reply, 1);
                close(c);
                printf("fake-launch-cvd: monitor action '%c' -> '%c'\n", action, reply);
                fflush(stdout);
                if (code >= 0) {
                        (void) unlink(path);
                        return code;
                }
        }
}
