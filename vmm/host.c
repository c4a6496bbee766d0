/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/gpu.h"
#include "vmm/host.h"
#include "common/constants.h"
#include "common/json-util.h"
#include "vmm/kvm.h"
#include "vmm/qemu.h"
#include "common/escape.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/process-util.h"
#include "common/strv.h"

static char *find_in_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_(strv_freep) char **dirs = NULL;

        if (strv_split(path, ":", &dirs) < 0)
                return NULL;
        STRV_FOREACH (d, dirs) {
                _cleanup_free_ char *p = path_join(*d, name);

                if (p && (*d)[0] == '/' && access(p, X_OK) >= 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

/* A container name as announced: a short token, or "other". */
static const char *container_token(char *s, char *buf, size_t size) {
        size_t n = strlen(strstrip(s));

        if (n == 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("-_.", s[i]))
                        return "other";
        (void) snprintf(buf, size, "%.*s", (int) MIN(n, (size_t) 32), s);
        return buf;
}

const char *host_detect_container(char *buf, size_t size) {
        _cleanup_free_ char *c = NULL, *env = NULL;
        size_t n = 0;

        if (access("/.dockerenv", F_OK) >= 0)
                return "docker";
        if (access("/run/.containerenv", F_OK) >= 0)
                return "podman";
        /* systemd-nspawn, LXC and others announce themselves here ... */
        if (read_one_line_file("/run/systemd/container", &c) >= 0 && container_token(c, buf, size))
                return container_token(c, buf, size);
        /* ... or in PID 1's environment (readable by root only). */
        if (read_full_file("/proc/1/environ", &env, &n) >= 0)
                for (size_t i = 0; i < n; i += strlen(env + i) + 1)
                        if (strncmp(env + i, "container=", 10) == 0) {
                                const char *t = container_token(env + i + 10, buf, size);
                                if (t)
                                        return t;
                        }
        if (access("/proc/sys/fs/binfmt_misc/WSLInterop", F_OK) >= 0)
                return "wsl";
        return NULL;
}

static struct json_object *device(const char *path) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "present", json_object_new_boolean(access(path, F_OK) >= 0));
        json_object_object_add(o, "accessible", json_object_new_boolean(access(path, R_OK | W_OK) >= 0));
        return o;
}

static char *find_launch_cvd(void) {
        char *p = find_in_path("launch_cvd");

        if (p)
                return p;
        p = path_join(HOST_CVD_PACKAGE_BIN, "launch_cvd");
        if (p && access(p, X_OK) >= 0)
                return p;
        return mfree(p);
}

static struct json_object *backend(char *path) {
        struct json_object *o;

        if (!path)
                return NULL;
        o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "version", NULL);
        free(path);
        return o;
}

static struct json_object *backends_find(void) {
        struct json_object *b = json_object_new_object();
        char *qemu = NULL;

        json_object_object_add(b, "qemu", backend(qemu_find(&qemu) >= 0 ? qemu : NULL));
        json_object_object_add(b, "crosvm", backend(find_in_path("crosvm")));
        json_object_object_add(b, "launch_cvd", backend(find_launch_cvd()));
        return b;
}

int host_describe(struct json_object *o) {
        struct utsname u;
        char buf[64];
        const char *container = host_detect_container(buf, sizeof(buf));

        if (uname(&u) >= 0)
                json_object_object_add(o, "kernel", json_object_new_string(u.release));
        json_object_object_add(o, "kvm", device("/dev/kvm"));
        json_object_object_add(o, "vhost_vsock", device("/dev/vhost-vsock"));
        json_object_object_add(o, "vhost_net", device("/dev/vhost-net"));
        json_object_object_add(o, "tun", device("/dev/net/tun"));
        json_object_object_add(o, "backends", backends_find());
        json_object_object_add(o, "container", container ? json_object_new_string(container) : NULL);
        return 0;
}

int host_program_version(char *const argv[], int timeout_msec, char **ret) {
        char out[HOST_VERSION_OUTPUT_MAX + 1];
        ssize_t k;
        int fds[2], r;
        pid_t pid;
        char *line, *s;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        r =
                        safe_fork_full("version probe",
                                       FORK_DEATHSIG_SIGKILL | FORK_REARRANGE_STDIO,
                                       (const int[]){ -EBADF, fds[1], fds[1] },
                                       NULL,
                                       0,
                                       &pid);
        if (r < 0) {
                safe_close(fds[0]);
                safe_close(fds[1]);
                return r;
        }
        if (r == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        safe_close(fds[1]);

        /* The first line is all we want. */
        k = read_bounded(fds[0], out, sizeof(out), timeout_msec, true);
        r = k < 0 ? (int) k : 0;
        safe_close(fds[0]);
        (void) kill(pid, SIGKILL); /* done with it, whatever it still does */
        (void) waitpid(pid, NULL, 0);

        for (line = out; *line == '\n' || *line == '\r'; line++)
                ;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
                return r < 0 ? r : -ENODATA;
        s = escape_nonprintable(strdup(strstrip(line)));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void backend_version(struct json_object *backends, const char *name, const char *arg) {
        struct json_object *b, *path;
        _cleanup_free_ char *v = NULL;
        int r;

        if (!json_object_object_get_ex(backends, name, &b) || !b ||
            !json_object_object_get_ex(b, "path", &path))
                return;
        r = host_program_version(
                        (char *const[]){ (char *) json_object_get_string(path), (char *) arg, NULL },
                        HOST_VERSION_TIMEOUT_MSEC,
                        &v);
        if (r >= 0)
                json_object_object_add(b, "version", json_object_new_string(v));
        else
                json_object_object_add(
                                b,
                                "version_error",
                                json_object_new_string(r == -ETIMEDOUT ? "timed out" : strerror(-r)));
}

int host_probe_run(struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
        struct json_object *backends = backends_find(), *qemu, *path, *kvm = json_object_new_object();
        GpuProbe gpu;
        char why[256] = "";
        int r;

        backend_version(backends, "qemu", "--version");
        backend_version(backends, "crosvm", "--version");
        backend_version(backends, "launch_cvd", "--version");
        json_object_object_add(o, "backends", backends);

        r = gpu_probe_run(&gpu);
        if (r < 0)
                return r;
        json_object_object_add(o, "gpu_modes", gpu_probe_to_json(&gpu));

        /* KVM: only QEMU starting with it tells (kvm.h). */
        if (json_object_object_get_ex(backends, "qemu", &qemu) && qemu &&
            json_object_object_get_ex(qemu, "path", &path)) {
                r = kvm_probe(json_object_get_string(path), why, sizeof(why));
                json_object_object_add(kvm, "usable", r < 0 ? NULL : json_object_new_boolean(r > 0));
                json_object_object_add(kvm, "reason", why[0] ? json_object_new_string(why) : NULL);
        } else {
                json_object_object_add(kvm, "usable", NULL);
                json_object_object_add(kvm, "reason", json_object_new_string("no QEMU to probe KVM with"));
        }
        json_object_object_add(o, "kvm", kvm);

        *ret = TAKE_PTR(o);
        return 0;
}
