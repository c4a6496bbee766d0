/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "host.h"
#include "json-util.h"
#include "qemu.h"
#include "util.h"

static struct json_object *find_in_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_(strv_freep) char **dirs = NULL;

        if (strv_split(path, ":", &dirs) < 0)
                return NULL;
        STRV_FOREACH (d, dirs) {
                _cleanup_free_ char *p = path_join(*d, name);

                if (p && (*d)[0] == '/' && access(p, X_OK) >= 0)
                        return json_object_new_string(p);
        }
        return NULL;
}

static const char *detect_container(void) {
        _cleanup_free_ char *c = NULL;

        if (access("/.dockerenv", F_OK) >= 0)
                return "docker";
        if (access("/run/.containerenv", F_OK) >= 0)
                return "podman";
        /* systemd-nspawn and others announce themselves here. */
        if (read_one_line_file("/run/systemd/container", &c) >= 0 && *c)
                return streq(c, "systemd-nspawn") ? "systemd-nspawn" : c[0] ? "other" : NULL;
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

int host_describe(struct json_object *o) {
        _cleanup_free_ char *qemu = NULL;
        struct json_object *backends = json_object_new_object();
        struct utsname u;
        const char *container = detect_container();

        if (uname(&u) >= 0)
                json_object_object_add(o, "kernel", json_object_new_string(u.release));
        json_object_object_add(o, "kvm", device("/dev/kvm"));
        json_object_object_add(o, "vhost_vsock", device("/dev/vhost-vsock"));
        json_object_object_add(o, "vhost_net", device("/dev/vhost-net"));
        json_object_object_add(o, "tun", device("/dev/net/tun"));

        json_object_object_add(
                        backends, "qemu", qemu_find(&qemu) >= 0 ? json_object_new_string(qemu) : NULL);
        json_object_object_add(backends, "crosvm", find_in_path("crosvm"));
        json_object_object_add(backends, "launch_cvd", find_in_path("launch_cvd"));
        json_object_object_add(o, "backends", backends);
        json_object_object_add(o, "container", container ? json_object_new_string(container) : NULL);
        return 0;
}
