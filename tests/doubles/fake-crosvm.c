/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake-crosvm: a TEST DOUBLE for crosvm, which cannot run here (no KVM). Never installed.
 *
 *   fake-crosvm [--extended-status] [--no-syslog] [--log-level=L] run FLAGS... [KERNEL]
 *       Checks every flag against crosvm's documented syntax and exits 2 on anything crosvm would
 *       not accept: a flag that is not in RunCommand (google/crosvm src/crosvm/cmdline.rs, the
 *       table below was taken from it at commit f1e797a6), a switch given a value, an option
 *       without one, and a few values the daemon must get right (--net needs tap-fd=N of an open
 *       fd and mac=, --vhost-vsock-fd needs --cid, --socket is required; --socket=/proc/self/fd/N
 *       must be a listening SOCK_SEQPACKET socket, as crosvm checks). Then it listens on the
 *       --socket path (or the fd), prints "fake-crosvm: guest booted" on stdout (the console log)
 *       and serves the control commands below until told to exit. With --extended-status it exits like
 *       crosvm (src/main.rs CommandStatus): 0 after stop, or the code a test asked for.
 *   fake-crosvm [--no-syslog] stop|suspend|resume SOCKET
 *       crosvm's control client: exit 0 when the VM accepted the command.
 *   fake-crosvm fake-exit CODE SOCKET
 *       Test-only (no such crosvm command): the "VM" exits with CODE (32 reset, 33 crash,
 *       34 guest panic, 36 watchdog), as crosvm does when the guest does that. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/doubles/crosvm-flags.h"

static int usage_error(const char *fmt, const char *arg) {
        fprintf(stderr, "fake-crosvm: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
        return 2;
}

static int find_flag(const char *name, size_t len, char short_name) {
        for (size_t i = 0; i < sizeof(run_flags) / sizeof(run_flags[0]); i++) {
                if (short_name ? run_flags[i].short_name == short_name
                               : strlen(run_flags[i].name) == len &&
                                                    strncmp(run_flags[i].name, name, len) == 0)
                        return (int) i;
        }
        return -1;
}

/* "key=value,key=value": the value of key, or NULL. */
static const char *kv_get(const char *list, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);

        for (const char *p = list; p && *p;) {
                const char *end = strchr(p, ',');
                size_t n = end ? (size_t) (end - p) : strlen(p);

                if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        (void) snprintf(buf, size, "%.*s", (int) (n - klen - 1), p + klen + 1);
                        return buf;
                }
                if (n == klen && strncmp(p, key, klen) == 0) {
                        (void) snprintf(buf, size, "%s", "");
                        return buf;
                }
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

static int check_value(const char *flag, const char *value, bool *has_cid, bool *has_vsock_fd) {
        char buf[4096];

        if (strcmp(flag, "net") == 0) {
                const char *fd = kv_get(value, "tap-fd", buf, sizeof(buf));
                if (!fd && !kv_get(value, "tap-name", buf, sizeof(buf)))
                        return usage_error("--net=%s: needs tap-fd=N or tap-name=NAME", value);
                if (fd && fcntl(atoi(fd), F_GETFD) < 0)
                        return usage_error("--net=%s: the tap fd is not open in this process", value);
                if (!kv_get(value, "mac", buf, sizeof(buf)))
                        return usage_error("--net=%s: every NIC needs its mac=", value);
        } else if (strcmp(flag, "serial") == 0) {
                if (!kv_get(value, "type", buf, sizeof(buf)))
                        return usage_error("--serial=%s: type= is required", value);
        } else if (strcmp(flag, "block") == 0 || strcmp(flag, "rwdisk") == 0) {
                if (value[0] != '/' && !kv_get(value, "path", buf, sizeof(buf)))
                        return usage_error("--block=%s: needs a path", value);
        } else if (strcmp(flag, "vsock") == 0) {
                if (!kv_get(value, "cid", buf, sizeof(buf)))
                        return usage_error("--vsock=%s: cid= is required", value);
        } else if (strcmp(flag, "mem") == 0 || strcmp(flag, "cpus") == 0 || strcmp(flag, "cid") == 0) {
                char *end;
                if (strtoul(value, &end, 10) == 0 || *end)
                        return usage_error("--%s: not a positive number", flag);
                *has_cid = *has_cid || strcmp(flag, "cid") == 0;
        } else if (strcmp(flag, "vhost-vsock-fd") == 0) {
                if (fcntl(atoi(value), F_GETFD) < 0)
                        return usage_error("--vhost-vsock-fd=%s: not an open fd", value);
                *has_vsock_fd = true;
        }
        return 0;
}

/* As crosvm (base/src/sys/unix/net.rs UnixSeqpacketListener::bind): /proc/self/fd/N is a socket
 * handed over, taken as it is if it listens; any other path is bound here. Its control socket is
 * SOCK_SEQPACKET, which its clients connect with: so does this one. */
static int listen_on(const char *path, bool *ret_handed_over) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, listening = 0, type = 0;
        socklen_t len = sizeof(int);

        if (strncmp(path, "/proc/self/fd/", 14) == 0) {
                fd = atoi(path + 14);
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || listening != 1) {
                        fprintf(stderr,
                                "fake-crosvm: %s: specified descriptor is not a listening socket\n",
                                path);
                        return -1;
                }
                len = sizeof(int);
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
                        fprintf(stderr,
                                "fake-crosvm: %s: not SOCK_SEQPACKET, crosvm's clients could not connect\n",
                                path);
                        return -1;
                }
                *ret_handed_over = true;
                return fd;
        }
        if (strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
                close(fd);
                return -1;
        }
        *ret_handed_over = false;
        return fd;
}

static int serve(const char *socket_path, bool extended) {
        bool suspended = false, handed_over = false;
        int lfd = listen_on(socket_path, &handed_over);

        if (lfd < 0) {
                fprintf(stderr, "fake-crosvm: cannot listen on %s: %m\n", socket_path);
                return 1;
        }
        printf("fake-crosvm: guest booted\n");
        fflush(stdout);
        for (;;) {
                char cmd[64] = "";
                ssize_t n;
                int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), code = -1;

                if (c < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                n = read(c, cmd, sizeof(cmd) - 1);
                cmd[n > 0 ? n : 0] = 0;
                if (strcmp(cmd, "stop") == 0)
                        code = 0;
                else if (strcmp(cmd, "suspend") == 0)
                        suspended = true;
                else if (strcmp(cmd, "resume") == 0)
                        suspended = false;
                else if (strncmp(cmd, "exit ", 5) == 0)
                        code = atoi(cmd + 5);
                else {
                        (void) !write(c, "error", 5);
                        close(c);
                        continue;
                }
                (void) !write(c, "ok", 2);
                close(c);
                printf("fake-crosvm: %s%s\n", cmd, suspended ? " (suspended)" : "");
                fflush(stdout);
                if (code >= 0) {
                        /* A path it was handed is not its to remove (crosvm's no_path). */
                        if (!handed_over)
                                (void) unlink(socket_path);
                        /* Without --extended-status crosvm exits 0 whatever happened. */
                        return extended ? code : 0;
                }
        }
}

static int client(const char *cmd, const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char reply[16] = "";
        int fd;

        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return usage_error("socket path too long: %s", socket_path);
        strcpy(sa.sun_path, socket_path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "fake-crosvm: cannot connect to %s: %m\n", socket_path);
                return 1;
        }
        if (write(fd, cmd, strlen(cmd)) < 0 || read(fd, reply, sizeof(reply) - 1) <= 0)
                return 1;
        return strcmp(reply, "ok") == 0 ? 0 : 1;
}

static int run(int argc, char **argv, bool extended) {
        const char *socket_path = NULL, *kernel = NULL;
        bool has_cid = false, has_vsock_fd = false;

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i], *name, *value = NULL;
                size_t len;
                int f, r;

                if (a[0] != '-') {
                        if (kernel)
                                return usage_error("a second positional argument '%s' (only KERNEL is)", a);
                        kernel = a;
                        continue;
                }
                if (a[1] != '-') { /* -m 1024 */
                        if (strlen(a) != 2 || (f = find_flag(NULL, 0, a[1])) < 0)
                                return usage_error("unknown flag %s", a);
                } else {
                        name = a + 2;
                        value = strchr(name, '=');
                        len = value ? (size_t) (value - name) : strlen(name);
                        f = find_flag(name, len, 0);
                        if (f < 0)
                                return usage_error(
                                                "unknown flag %s (not in crosvm's RunCommand, src/crosvm/cmdline.rs)",
                                                a);
                        if (value)
                                value++;
                }
                if (run_flags[f].kind == FLAG_SWITCH) {
                        if (value)
                                return usage_error("%s: a switch takes no value", a);
                        continue;
                }
                if (!value) {
                        if (i + 1 >= argc)
                                return usage_error("%s: needs a value", a);
                        value = argv[++i];
                }
                r = check_value(run_flags[f].name, value, &has_cid, &has_vsock_fd);
                if (r)
                        return r;
                if (strcmp(run_flags[f].name, "socket") == 0)
                        socket_path = value;
        }
        if (has_vsock_fd && !has_cid)
                return usage_error("%s", "--vhost-vsock-fd is read only together with --cid");
        if (!socket_path)
                return usage_error("%s", "no --socket: the daemon could not control this VM");
        return serve(socket_path, extended);
}

int main(int argc, char **argv) {
        bool extended = false;
        int i = 1;

        /* Global flags (CrosvmCmdlineArgs), then the subcommand. */
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--extended-status") == 0)
                        extended = true;
                else if (strcmp(argv[i], "--no-syslog") == 0 || strncmp(argv[i], "--log-level=", 12) == 0 ||
                         strncmp(argv[i], "--syslog-tag=", 13) == 0)
                        continue;
                else
                        return usage_error("unknown global flag %s", argv[i]);
        }
        if (i >= argc)
                return usage_error("%s", "no subcommand");
        if (strcmp(argv[i], "run") == 0)
                return run(argc - i - 1, argv + i + 1, extended);
        if (strcmp(argv[i], "stop") == 0 || strcmp(argv[i], "suspend") == 0 ||
            strcmp(argv[i], "resume") == 0) {
                if (argc - i != 2)
                        return usage_error("%s takes exactly one argument: VM_SOCKET", argv[i]);
                return client(argv[i], argv[i + 1]);
        }
        if (strcmp(argv[i], "fake-exit") == 0) {
                char cmd[32];
                if (argc - i != 3)
                        return usage_error("%s", "fake-exit CODE SOCKET");
                (void) snprintf(cmd, sizeof(cmd), "exit %d", atoi(argv[i + 1]));
                return client(cmd, argv[i + 2]);
        }
        return usage_error("unknown subcommand %s", argv[i]);
}
