/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cfctl doctor: what this host (and this user) lacks to run devices, each with the command that
 * fixes it. Exit 0 when nothing is wrong, 1 otherwise. */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "cfctl/cfctl.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/constants.h"
#include "common/bus-api.h"
#include "common/macro.h"

typedef enum Severity {
        CHECK_OK,
        CHECK_NOTE, /* works, with a limitation */
        CHECK_PROBLEM,
} Severity;

static void add(struct json_object *checks,
                const char *name,
                Severity sev,
                const char *detail,
                const char *fix) {
        static const char *const sev_names[] = { "ok", "note", "problem" };
        struct json_object *c = json_object_new_object();

        json_object_object_add(c, "check", json_object_new_string(name));
        json_object_object_add(c, "result", json_object_new_string(sev_names[sev]));
        json_object_object_add(c, "detail", json_object_new_string(detail));
        json_object_object_add(c, "fix", fix ? json_object_new_string(fix) : NULL);
        json_object_array_add(checks, c);
}

static int describe(sd_bus *bus, const char *method, struct json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, method, &error, &reply, NULL);
        if (r < 0)
                return cfctl_bus_error(r, &error, "ask the service");
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return r;
        *ret = json_tokener_parse(text);
        return *ret ? 0 : -EBADMSG;
}

static bool jb(struct json_object *o, const char *a, const char *b) {
        struct json_object *x, *y;

        if (!json_object_object_get_ex(o, a, &x))
                return false;
        if (!b)
                return json_object_get_boolean(x);
        return json_object_object_get_ex(x, b, &y) && y && json_object_get_boolean(y);
}

static bool user_in_group(const char *group) {
        struct passwd *pw = getpwuid(getuid());
        struct group *g = getgrnam(group);
        gid_t list[256];
        int n = (int) ELEMENTSOF(list);

        if (!pw || !g || getgrouplist(pw->pw_name, pw->pw_gid, list, &n) < 0)
                return false;
        for (int i = 0; i < n; i++)
                if (list[i] == g->gr_gid)
                        return true;
        return false;
}

/* "qemu: /usr/bin/qemu-system-x86_64 (QEMU emulator version 7.2.22)"; false when not found. */
static bool backend_describe(struct json_object *backends, const char *name, char *buf, size_t size) {
        struct json_object *b, *path, *version;

        if (!json_object_object_get_ex(backends, name, &b) || !b ||
            !json_object_object_get_ex(b, "path", &path))
                return false;
        if (json_object_object_get_ex(b, "version", &version) && version)
                (void) snprintf(buf,
                                size,
                                "%s: %s (%s)",
                                name,
                                json_object_get_string(path),
                                json_object_get_string(version));
        else
                (void) snprintf(buf, size, "%s: %s", name, json_object_get_string(path));
        return true;
}

/* One "gpu" check: the modes that work, and why the accelerated ones do not. */
static void gpu_check(struct json_object *checks, struct json_object *host) {
        struct json_object *modes;
        char ok[256] = "", why[768] = "", detail[1200];
        bool accelerated = false;

        if (!json_object_object_get_ex(host, "gpu_modes", &modes) || !modes) {
                add(checks,
                    "gpu",
                    CHECK_NOTE,
                    "the service is still probing the host (GPU modes, versions, KVM)",
                    "run 'cfctl doctor' again in a few seconds");
                return;
        }
        for (size_t k = 0; k < json_object_array_length(modes); k++) {
                struct json_object *m = json_object_array_get_idx(modes, k), *name, *avail, *reason;
                const char *n;

                json_object_object_get_ex(m, "mode", &name);
                json_object_object_get_ex(m, "available", &avail);
                json_object_object_get_ex(m, "reason", &reason);
                n = json_object_get_string(name);
                if (json_object_get_boolean(avail)) {
                        (void) snprintf(ok + strlen(ok),
                                        sizeof(ok) - strlen(ok),
                                        "%s%s",
                                        ok[0] ? ", " : "",
                                        n);
                        accelerated = accelerated || streq(n, "drm_virgl") || streq(n, "gfxstream");
                } else
                        (void) snprintf(why + strlen(why),
                                        sizeof(why) - strlen(why),
                                        "; %s unavailable: %s",
                                        n,
                                        json_object_get_string(reason));
        }
        (void) snprintf(detail, sizeof(detail), "GPU modes available: %s%s", ok, why);
        add(checks,
            "gpu",
            accelerated ? CHECK_OK : CHECK_NOTE,
            detail,
            accelerated ? NULL
                        : "for drm_virgl: install virglrenderer and Mesa's EGL (libvirglrenderer1 libegl1 "
                          "libegl-mesa0 libgl1-mesa-dri), then: sudo cfctl reload");
}

int verb_doctor(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *host = NULL, *net = NULL,
                                                       *checks = json_object_new_array();
        struct json_object *v, *backends;
        const char *pm = access("/usr/bin/apt-get", X_OK) >= 0 ? "apt-get install" : "dnf install";
        bool problems = false;
        char buf[512], fix[512];
        int r;

        r = describe(bus, "DescribeHost", &host);
        if (r < 0)
                return r;
        r = describe(bus, "DescribeNetwork", &net);
        if (r < 0)
                return r;

        /* Network */
        json_object_object_get_ex(net, "state", &v);
        if (streq_ptr(json_object_get_string(v), "up"))
                add(checks, "network", CHECK_OK, "the host network is up", NULL);
        else {
                struct json_object *e;
                json_object_object_get_ex(net, "error", &e);
                (void) snprintf(buf,
                                sizeof(buf),
                                "the host network is %s%s%s",
                                json_object_get_string(v),
                                e ? ": " : "",
                                e ? json_object_get_string(e) : "");
                add(checks,
                    "network",
                    CHECK_PROBLEM,
                    buf,
                    streq_ptr(json_object_get_string(v), "degraded")
                                    ? "remove the conflicting links below, then: sudo cfctl network up"
                                    : "sudo cfctl network up");
        }
        if (json_object_object_get_ex(host, "conflicts", &v))
                for (size_t k = 0; k < json_object_array_length(v); k++) {
                        const char *c = json_object_get_string(json_object_array_get_idx(v, k));
                        (void) snprintf(fix,
                                        sizeof(fix),
                                        "sudo ip link delete %.*s",
                                        (int) strcspn(c, " "),
                                        c);
                        add(checks, "conflict", CHECK_PROBLEM, c, fix);
                }

        /* Devices */
        if (jb(host, "tun", "present"))
                add(checks, "tun", CHECK_OK, "/dev/net/tun present", NULL);
        else
                add(checks,
                    "tun",
                    CHECK_PROBLEM,
                    "/dev/net/tun missing: no taps can be made",
                    "sudo modprobe tun");

        if (!jb(host, "kvm", "present"))
                add(checks,
                    "kvm",
                    CHECK_NOTE,
                    "no /dev/kvm: guests run under TCG, many times slower",
                    "enable virtualization (or nested virtualization), then: sudo modprobe kvm_intel  (or kvm_amd)");
        else if (json_object_object_get_ex(host, "kvm", &v) && json_object_object_get_ex(v, "usable", &v) &&
                 v && !json_object_get_boolean(v))
                add(checks,
                    "kvm",
                    CHECK_NOTE,
                    "/dev/kvm exists but QEMU cannot use it here: guests run under TCG",
                    "check nested virtualization support of this host");
        else if (access("/dev/kvm", R_OK | W_OK) < 0 && geteuid() != 0)
                add(checks,
                    "kvm",
                    CHECK_NOTE,
                    "/dev/kvm is not accessible to you (VMMs run as you)",
                    "sudo usermod -aG kvm $USER, then log in again");
        else
                add(checks, "kvm", CHECK_OK, "/dev/kvm present", NULL);

        add(checks,
            "vhost-vsock",
            jb(host, "vhost_vsock", "present") ? CHECK_OK : CHECK_NOTE,
            jb(host, "vhost_vsock", "present") ? "/dev/vhost-vsock present"
                                               : "no /dev/vhost-vsock: no vsock for guests",
            jb(host, "vhost_vsock", "present") ? NULL : "sudo modprobe vhost_vsock");
        add(checks,
            "vhost-net",
            jb(host, "vhost_net", "present") ? CHECK_OK : CHECK_NOTE,
            jb(host, "vhost_net", "present") ? "/dev/vhost-net present"
                                             : "no /dev/vhost-net: slower guest networking",
            jb(host, "vhost_net", "present") ? NULL : "sudo modprobe vhost_net");

        /* Backends */
        json_object_object_get_ex(host, "backends", &backends);
        (void) snprintf(fix, sizeof(fix), "sudo %s qemu-system-x86", pm);
        if (backend_describe(backends, "qemu", buf, sizeof(buf)))
                add(checks, "backend-qemu", CHECK_OK, buf, NULL);
        else
                add(checks, "backend-qemu", CHECK_PROBLEM, "QEMU not found: no instance can start", fix);
        if (backend_describe(backends, "crosvm", buf, sizeof(buf)))
                add(checks, "backend-crosvm", CHECK_OK, buf, NULL);
        else
                add(checks,
                    "backend-crosvm",
                    CHECK_NOTE,
                    "crosvm not found: instances with backend crosvm cannot start",
                    "install crosvm (e.g. the Cuttlefish host packages) into the service's PATH");
        if (backend_describe(backends, "launch_cvd", buf, sizeof(buf)))
                add(checks, "backend-cvd", CHECK_OK, buf, NULL);
        else
                add(checks,
                    "backend-cvd",
                    CHECK_NOTE,
                    "launch_cvd not found (PATH, " HOST_CVD_PACKAGE_BIN
                    "): backend cvd needs a host_package "
                    "with it",
                    "install Cuttlefish's host package (cuttlefish-base), or give CreateInstance a host_package");

        /* GPU */
        gpu_check(checks, host);

        /* Host conditions the service found (routes, firewalls, NetworkManager) */
        if (json_object_object_get_ex(host, "issues", &v))
                for (size_t k = 0; k < json_object_array_length(v); k++) {
                        struct json_object *it = json_object_array_get_idx(v, k), *c, *res, *d, *f;

                        json_object_object_get_ex(it, "check", &c);
                        json_object_object_get_ex(it, "result", &res);
                        json_object_object_get_ex(it, "detail", &d);
                        json_object_object_get_ex(it, "fix", &f);
                        add(checks,
                            json_object_get_string(c),
                            streq_ptr(json_object_get_string(res), "problem") ? CHECK_PROBLEM : CHECK_NOTE,
                            json_object_get_string(d),
                            f ? json_object_get_string(f) : NULL);
                }

        /* This user */
        if (geteuid() == 0)
                add(checks, "user", CHECK_OK, "root may do everything", NULL);
        else if (user_in_group(CF_GROUP))
                add(checks, "user", CHECK_OK, "you are in group " CF_GROUP ": you may create instances", NULL);
        else
                add(checks,
                    "user",
                    CHECK_PROBLEM,
                    "you are not in group " CF_GROUP ": creating instances needs it",
                    "sudo usermod -aG " CF_GROUP " $USER, then log in again");

        if (json_object_object_get_ex(host, "container", &v) && v) {
                (void) snprintf(buf,
                                sizeof(buf),
                                "the service runs inside a container (%s): its bridges, taps, NAT and dnsmasq "
                                "live in the container's network namespace, so guests are reachable from inside "
                                "it only; /dev/kvm, /dev/net/tun, /dev/vhost-vsock and /dev/vhost-net work only if "
                                "passed in, and the route, firewall and NetworkManager checks see the "
                                "container, not the host",
                                json_object_get_string(v));
                add(checks,
                    "container",
                    CHECK_NOTE,
                    buf,
                    "run the container with --privileged, or with --cap-add=NET_ADMIN and --device for each of "
                    "/dev/kvm /dev/net/tun /dev/vhost-vsock /dev/vhost-net");
        }

        for (size_t k = 0; k < json_object_array_length(checks); k++) {
                struct json_object *c = json_object_array_get_idx(checks, k), *res;
                json_object_object_get_ex(c, "result", &res);
                problems = problems || streq(json_object_get_string(res), "problem");
        }

        if (arg_json != JSON_OFF) {
                _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
                json_object_object_add(o, "problems", json_object_new_boolean(problems));
                json_object_object_add(o, "checks", json_object_get(checks));
                json_object_object_add(o, "host", json_object_get(host));
                (void) cfctl_print_json(o);
        } else
                for (size_t k = 0; k < json_object_array_length(checks); k++) {
                        struct json_object *c = json_object_array_get_idx(checks, k), *n, *res, *d, *f;
                        json_object_object_get_ex(c, "check", &n);
                        json_object_object_get_ex(c, "result", &res);
                        json_object_object_get_ex(c, "detail", &d);
                        json_object_object_get_ex(c, "fix", &f);
                        printf("%-8s %-15s %s\n",
                               json_object_get_string(res),
                               json_object_get_string(n),
                               json_object_get_string(d));
                        if (f)
                                printf("%-8s %-15s fix: %s\n", "", "", json_object_get_string(f));
                }
        return problems ? -EIO : 0;
}
