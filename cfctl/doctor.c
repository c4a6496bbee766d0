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

#include "cfctl/bus-call.h"
#include "cfctl/cfctl.h"
#include "cfctl/json.h"
#include "cfctl/output.h"
#include "common/constants.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/string-table.h"

typedef enum Severity {
        CHECK_OK,
        CHECK_NOTE, /* works, with a limitation */
        CHECK_PROBLEM,
        _CHECK_MAX,
        _CHECK_INVALID = -EINVAL,
} Severity;

static const char *const severity_table[_CHECK_MAX] = {
        [CHECK_OK] = "ok",
        [CHECK_NOTE] = "note",
        [CHECK_PROBLEM] = "problem",
};
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(severity, Severity);

/* Appends one check to the doctor's list (fix NULL: nothing to do). */
static void doctor_add_check(
                struct json_object *checks,
                const char *name,
                Severity sev,
                const char *detail,
                const char *fix) {
        struct json_object *c = json_object_new_object();

        json_object_object_add(c, "check", json_object_new_string(name));
        json_object_object_add(c, "result", json_object_new_string(severity_to_string(sev)));
        json_object_object_add(c, "detail", json_object_new_string(detail));
        json_object_object_add(c, "fix", fix ? json_object_new_string(fix) : NULL);
        json_object_array_add(checks, c);
}

static size_t json_length(struct json_object *array) {
        return array ? json_object_array_length(array) : 0;
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

static void doctor_check_network(
                struct json_object *checks, struct json_object *net, struct json_object *host) {
        const char *state = json_get_string(net, "state"), *error = json_get_string(net, "error");
        struct json_object *conflicts = json_get(host, "conflicts");
        char buf[512], fix[512];

        if (streq_ptr(state, "up"))
                doctor_add_check(checks, "network", CHECK_OK, "the host network is up", NULL);
        else {
                (void) snprintf(buf,
                                sizeof(buf),
                                "the host network is %s%s%s",
                                strempty(state),
                                error ? ": " : "",
                                error ? error : "");
                doctor_add_check(
                                checks,
                                "network",
                                CHECK_PROBLEM,
                                buf,
                                streq_ptr(state, "degraded")
                                                ? "remove the conflicting links below, then: sudo cfctl network up"
                                                : "sudo cfctl network up");
        }
        for (size_t k = 0; k < json_length(conflicts); k++) {
                const char *c = json_object_get_string(json_object_array_get_idx(conflicts, k));
                (void) snprintf(fix, sizeof(fix), "sudo ip link delete %.*s", (int) strcspn(c, " "), c);
                doctor_add_check(checks, "conflict", CHECK_PROBLEM, c, fix);
        }
}

/* Whether the host's device (tun, kvm, ...) is there. */
static bool host_device_present(struct json_object *host, const char *device) {
        return json_get_bool(json_get(host, device), "present");
}

static void doctor_check_kvm(struct json_object *checks, struct json_object *host) {
        struct json_object *usable = json_get(json_get(host, "kvm"), "usable");

        if (!host_device_present(host, "kvm"))
                doctor_add_check(
                                checks,
                                "kvm",
                                CHECK_NOTE,
                                "no /dev/kvm: guests run under TCG, many times slower",
                                "enable virtualization (or nested virtualization), then: sudo modprobe kvm_intel  (or kvm_amd)");
        else if (usable && !json_object_get_boolean(usable))
                doctor_add_check(
                                checks,
                                "kvm",
                                CHECK_NOTE,
                                "/dev/kvm exists but QEMU cannot use it here: guests run under TCG",
                                "check nested virtualization support of this host");
        else if (access("/dev/kvm", R_OK | W_OK) < 0 && geteuid() != 0)
                doctor_add_check(
                                checks,
                                "kvm",
                                CHECK_NOTE,
                                "/dev/kvm is not accessible to you (VMMs run as you)",
                                "sudo usermod -aG kvm $USER, then log in again");
        else
                doctor_add_check(checks, "kvm", CHECK_OK, "/dev/kvm present", NULL);
}

static void doctor_check_devices(struct json_object *checks, struct json_object *host) {
        bool vsock = host_device_present(host, "vhost_vsock"), net = host_device_present(host, "vhost_net");

        if (host_device_present(host, "tun"))
                doctor_add_check(checks, "tun", CHECK_OK, "/dev/net/tun present", NULL);
        else
                doctor_add_check(
                                checks,
                                "tun",
                                CHECK_PROBLEM,
                                "/dev/net/tun missing: no taps can be made",
                                "sudo modprobe tun");
        doctor_check_kvm(checks, host);
        doctor_add_check(
                        checks,
                        "vhost-vsock",
                        vsock ? CHECK_OK : CHECK_NOTE,
                        vsock ? "/dev/vhost-vsock present" : "no /dev/vhost-vsock: no vsock for guests",
                        vsock ? NULL : "sudo modprobe vhost_vsock");
        doctor_add_check(
                        checks,
                        "vhost-net",
                        net ? CHECK_OK : CHECK_NOTE,
                        net ? "/dev/vhost-net present" : "no /dev/vhost-net: slower guest networking",
                        net ? NULL : "sudo modprobe vhost_net");
}

/* "qemu: /usr/bin/qemu-system-x86_64 (QEMU emulator version 7.2.22)"; false when not found. */
static bool backend_summary(struct json_object *backends, const char *name, char *buf, size_t size) {
        struct json_object *b = json_get(backends, name);
        const char *path = json_get_string(b, "path"), *version = json_get_string(b, "version");

        if (!json_get(b, "path"))
                return false;
        if (version)
                (void) snprintf(buf, size, "%s: %s (%s)", name, path, version);
        else
                (void) snprintf(buf, size, "%s: %s", name, path);
        return true;
}

static void doctor_check_backends(struct json_object *checks, struct json_object *host) {
        struct json_object *backends = json_get(host, "backends");
        const char *pm = access("/usr/bin/apt-get", X_OK) >= 0 ? "apt-get install" : "dnf install";
        char buf[512], fix[512];

        (void) snprintf(fix, sizeof(fix), "sudo %s qemu-system-x86", pm);
        if (backend_summary(backends, "qemu", buf, sizeof(buf)))
                doctor_add_check(checks, "backend-qemu", CHECK_OK, buf, NULL);
        else
                doctor_add_check(
                                checks,
                                "backend-qemu",
                                CHECK_PROBLEM,
                                "QEMU not found: no instance can start",
                                fix);
        if (backend_summary(backends, "crosvm", buf, sizeof(buf)))
                doctor_add_check(checks, "backend-crosvm", CHECK_OK, buf, NULL);
        else
                doctor_add_check(
                                checks,
                                "backend-crosvm",
                                CHECK_NOTE,
                                "crosvm not found: instances with backend crosvm cannot start",
                                "install crosvm (e.g. the Cuttlefish host packages) into the service's PATH");
        if (backend_summary(backends, "launch_cvd", buf, sizeof(buf)))
                doctor_add_check(checks, "backend-cvd", CHECK_OK, buf, NULL);
        else
                doctor_add_check(
                                checks,
                                "backend-cvd",
                                CHECK_NOTE,
                                "launch_cvd not found (PATH, " HOST_CVD_PACKAGE_BIN
                                "): backend cvd needs a host_package with it",
                                "install Cuttlefish's host package (cuttlefish-base), or give CreateInstance a host_package");
}

/* One "gpu" check: the modes that work, and why the accelerated ones do not. */
static void doctor_check_gpu(struct json_object *checks, struct json_object *host) {
        struct json_object *modes = json_get(host, "gpu_modes");
        char ok[256] = "", why[768] = "", detail[1200];
        bool accelerated = false;

        if (!modes) {
                doctor_add_check(
                                checks,
                                "gpu",
                                CHECK_NOTE,
                                "the service is still probing the host (GPU modes, versions, KVM)",
                                "run 'cfctl doctor' again in a few seconds");
                return;
        }
        for (size_t k = 0; k < json_length(modes); k++) {
                struct json_object *m = json_object_array_get_idx(modes, k);
                const char *n = json_get_string(m, "mode");

                if (json_get_bool(m, "available")) {
                        (void) snprintf(ok + strlen(ok),
                                        sizeof(ok) - strlen(ok),
                                        "%s%s",
                                        ok[0] ? ", " : "",
                                        n);
                        accelerated = accelerated || streq_ptr(n, "drm_virgl") || streq_ptr(n, "gfxstream");
                } else
                        (void) snprintf(why + strlen(why),
                                        sizeof(why) - strlen(why),
                                        "; %s unavailable: %s",
                                        n,
                                        json_get_string(m, "reason"));
        }
        (void) snprintf(detail, sizeof(detail), "GPU modes available: %s%s", ok, why);
        doctor_add_check(
                        checks,
                        "gpu",
                        accelerated ? CHECK_OK : CHECK_NOTE,
                        detail,
                        accelerated ? NULL
                                    : "for drm_virgl: install virglrenderer and Mesa's EGL (libvirglrenderer1 libegl1 "
                                      "libegl-mesa0 libgl1-mesa-dri), then: sudo cfctl reload");
}

/* Host conditions the service found (routes, firewalls, NetworkManager), as it judged them. */
static void doctor_check_host_issues(struct json_object *checks, struct json_object *host) {
        struct json_object *issues = json_get(host, "issues");

        for (size_t k = 0; k < json_length(issues); k++) {
                struct json_object *it = json_object_array_get_idx(issues, k);

                doctor_add_check(
                                checks,
                                strempty(json_get_string(it, "check")),
                                streq_ptr(json_get_string(it, "result"), "problem") ? CHECK_PROBLEM
                                                                                    : CHECK_NOTE,
                                strempty(json_get_string(it, "detail")),
                                json_get_string(it, "fix"));
        }
}

/* This user, and a service inside a container. */
static void doctor_check_user(struct json_object *checks, struct json_object *host) {
        const char *container = json_get_string(host, "container");
        char buf[1024];

        if (geteuid() == 0)
                doctor_add_check(checks, "user", CHECK_OK, "root may do everything", NULL);
        else if (user_in_group(CF_GROUP))
                doctor_add_check(
                                checks,
                                "user",
                                CHECK_OK,
                                "you are in group " CF_GROUP ": you may create instances",
                                NULL);
        else
                doctor_add_check(
                                checks,
                                "user",
                                CHECK_PROBLEM,
                                "you are not in group " CF_GROUP ": creating instances needs it",
                                "sudo usermod -aG " CF_GROUP " $USER, then log in again");

        if (!container)
                return;
        (void) snprintf(buf,
                        sizeof(buf),
                        "the service runs inside a container (%s): its bridges, taps, NAT and dnsmasq "
                        "live in the container's network namespace, so guests are reachable from inside "
                        "it only; /dev/kvm, /dev/net/tun, /dev/vhost-vsock and /dev/vhost-net work only if "
                        "passed in, and the route, firewall and NetworkManager checks see the "
                        "container, not the host",
                        container);
        doctor_add_check(
                        checks,
                        "container",
                        CHECK_NOTE,
                        buf,
                        "run the container with --privileged, or with --cap-add=NET_ADMIN and --device for each of "
                        "/dev/kvm /dev/net/tun /dev/vhost-vsock /dev/vhost-net");
}

/* result, check and detail; a fix on a line of its own below. */
static int doctor_print_checks(struct json_object *checks) {
        static const TableColumn columns[] = { { NULL, 8 }, { NULL, 15 }, { NULL, 0 } };
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        r = table_new(columns, ELEMENTSOF(columns), &t);
        if (r < 0)
                return log_oom();
        for (size_t k = 0; k < json_length(checks); k++) {
                struct json_object *c = json_object_array_get_idx(checks, k);
                const char *fix = json_get_string(c, "fix");

                table_add_cell(t, json_get_string(c, "result"));
                table_add_cell(t, json_get_string(c, "check"));
                table_add_cell(t, json_get_string(c, "detail"));
                if (fix) {
                        table_add_cell(t, "");
                        table_add_cell(t, "");
                        table_add_cellf(t, "fix: %s", fix);
                }
        }
        r = table_print(t, false);
        if (r < 0)
                return log_oom();
        return 0;
}

int verb_doctor(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *host = NULL, *net = NULL,
                                                       *checks = json_object_new_array();
        bool problems = false;
        int r;

        r = bus_call_json(bus, "DescribeHost", "ask the service", &host);
        if (r < 0)
                return r;
        r = bus_call_json(bus, "DescribeNetwork", "ask the service", &net);
        if (r < 0)
                return r;

        doctor_check_network(checks, net, host);
        doctor_check_devices(checks, host);
        doctor_check_backends(checks, host);
        doctor_check_gpu(checks, host);
        doctor_check_host_issues(checks, host);
        doctor_check_user(checks, host);

        for (size_t k = 0; k < json_length(checks); k++)
                problems = problems ||
                                streq_ptr(json_get_string(json_object_array_get_idx(checks, k), "result"),
                                          "problem");

        if (arg_json != JSON_OFF) {
                _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
                json_object_object_add(o, "problems", json_object_new_boolean(problems));
                json_object_object_add(o, "checks", json_object_get(checks));
                json_object_object_add(o, "host", json_object_get(host));
                output_json(o);
        } else {
                r = doctor_print_checks(checks);
                if (r < 0)
                        return r;
        }
        return problems ? -EIO : 0;
}
