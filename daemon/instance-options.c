/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "common/bus-api.h"
#include "daemon/instance-options.h"
#include "daemon/instance.h"
#include "netsetup/plan.h"
#include "common/macro.h"
#include "common/strv.h"
#include "vmm/gpu.h"

typedef enum OptKind {
        OPT_STRING,
        OPT_PATH, /* absolute, no "..", bounded */
        OPT_UINT,
        OPT_BOOL,
        OPT_STRV,
        OPT_PATHV,
} OptKind;

typedef struct Option {
        const char *name;
        OptKind kind;
        unsigned min, max; /* OPT_UINT */
} Option;

static const Option options[] = {
        { "backend", OPT_STRING },
        { "number", OPT_UINT, 1, NET_SLOTS_MAX },
        { "cpus", OPT_UINT, 1, SPEC_CPUS_MAX },
        { "memory_mb", OPT_UINT, SPEC_MEMORY_MB_MIN, SPEC_MEMORY_MB_MAX },
        { "kernel", OPT_PATH },
        { "initrd", OPT_PATH },
        { "cmdline", OPT_STRING },
        { "disks", OPT_PATHV },
        { "images", OPT_PATHV },
        { "gpu_mode", OPT_STRING },
        { "restart", OPT_STRING },
        { "boot_marker", OPT_STRING },
        { "boot_timeout_sec", OPT_UINT, 0, SPEC_BOOT_TIMEOUT_MAX },
        { "extra_args", OPT_STRV },
        { "host_package", OPT_PATH },
        { "images_dir", OPT_PATH },
        { "start", OPT_BOOL },
        { "autostart", OPT_BOOL },
        { "stop_timeout_sec", OPT_UINT, 1, SPEC_STOP_TIMEOUT_MAX },
        { "bios", OPT_PATH },
        { "crosvm_disable_sandbox", OPT_BOOL },
};

static const char *kind_signature(OptKind k) {
        switch (k) {
        case OPT_STRING:
        case OPT_PATH:
                return "s";
        case OPT_UINT:
                return "u";
        case OPT_BOOL:
                return "b";
        case OPT_STRV:
        case OPT_PATHV:
                return "as";
        }
        return "?";
}

static bool string_ok(const char *s) {
        /* Printable text only: it ends up on command lines and in the journal. */
        if (strlen(s) > SPEC_STRING_MAX)
                return false;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return false;
        return true;
}

static bool path_ok(const char *s) {
        if (s[0] != '/' || !string_ok(s))
                return false;
        for (const char *p = s; (p = strstr(p, "..")); p += 2)
                if ((p == s || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
                        return false;
        return true;
}

/* One component of a path: n bytes at p, no '/'. */
typedef struct PathComponent {
        const char *p;
        size_t n;
} PathComponent;

static bool component_is(PathComponent c, const char *name) {
        return c.n == strlen(name) && memcmp(c.p, name, c.n) == 0;
}

const char *instance_path_hidden_dir(const char *path, bool *ret_itself) {
        /* Of the normalised path only its depth and first two components matter: ".." pops a
         * component, so top[] is exact for as long as depth says it is filled. */
        PathComponent top[2] = {};
        size_t depth = 0;
        const char *dir = NULL;

        if (!path || path[0] != '/')
                return NULL;
        for (const char *c = path;;) {
                size_t n;

                c += strspn(c, "/");
                n = strcspn(c, "/");
                if (n == 0)
                        break;
                if (n == 2 && c[0] == '.' && c[1] == '.') {
                        if (depth > 0) /* "/.." is "/" */
                                depth--;
                } else if (!(n == 1 && c[0] == '.')) {
                        if (depth < ELEMENTSOF(top))
                                top[depth] = (PathComponent){ c, n };
                        depth++;
                }
                c += n;
        }

        if (depth >= 1 && component_is(top[0], "tmp")) {
                dir = "/tmp";
                if (ret_itself)
                        *ret_itself = depth == 1;
        } else if (depth >= 2 && component_is(top[0], "dev") && component_is(top[1], "shm")) {
                dir = "/dev/shm";
                if (ret_itself)
                        *ret_itself = depth == 2;
        }
        return dir;
}

/* Whether the kernel command line names a console: a word "console=..." before any "--" (what
 * follows that goes to init). */
static bool cmdline_has_console(const char *cmdline) {
        static const char spaces[] = " \t\n";

        for (const char *w = cmdline + strspn(cmdline, spaces); *w; w += strspn(w, spaces)) {
                size_t n = strcspn(w, spaces);

                if (n == 2 && strncmp(w, "--", 2) == 0)
                        return false;
                if (n >= strlen("console=") && strncmp(w, "console=", strlen("console=")) == 0)
                        return true;
                w += n;
        }
        return false;
}

int instance_spec_warning(const InstanceSpec *spec, char **ret) {
        char *w;

        if (!spec || !ret)
                return -EINVAL;
        /* Without a cmdline the guest's own (a disk's boot loader, a built-in one) applies: no
         * telling what it says. */
        if (spec->backend != BACKEND_QEMU || !spec->boot_marker || !spec->cmdline ||
            cmdline_has_console(spec->cmdline)) {
                *ret = NULL;
                return 0;
        }
        w = strdup("boot_marker is read from the serial console, but cmdline has no console= "
                   "(add console=ttyS0)");
        if (!w)
                return -ENOMEM;
        *ret = w;
        return 1;
}

_printf_(4, 0) static int option_errorv(
                sd_bus_error *error, const char *name, const char *key, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        return sd_bus_error_setf(error, name, "Option '%s': %s", key, strempty(msg));
}

static int invalid(sd_bus_error *error, const char *key, const char *fmt, ...) _printf_(3, 4);
static int invalid(sd_bus_error *error, const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = option_errorv(error, BUS_ERROR_INVALID_OPTION, key, fmt, ap);
        va_end(ap);
        return r;
}

/* Over a size limit: the standard LimitsExceeded, still naming the option. */
static int too_big(sd_bus_error *error, const char *key, const char *fmt, ...) _printf_(3, 4);
static int too_big(sd_bus_error *error, const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = option_errorv(error, SD_BUS_ERROR_LIMITS_EXCEEDED, key, fmt, ap);
        va_end(ap);
        return r;
}

static int read_strv(sd_bus_message *m, const Option *o, char ***ret, sd_bus_error *error) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = sd_bus_message_read_strv(m, &l);
        if (r < 0)
                return r;
        if (strv_length(l) > SPEC_LIST_MAX)
                return too_big(error, o->name, "%zu entries; at most %u.", strv_length(l), SPEC_LIST_MAX);
        STRV_FOREACH (s, l) {
                if (strlen(*s) > SPEC_STRING_MAX)
                        return too_big(error,
                                       o->name,
                                       "an entry is too long (%zu bytes); at most %u.",
                                       strlen(*s),
                                       SPEC_STRING_MAX);
                if (o->kind == OPT_PATHV && !path_ok(*s))
                        return invalid(error,
                                       o->name,
                                       "'%s' is not an absolute path (no '..'). Give full paths.",
                                       string_ok(*s) ? *s : "(unprintable)");
                if (!string_ok(*s))
                        return invalid(error,
                                       o->name,
                                       "entries must be printable text of at most %u bytes.",
                                       SPEC_STRING_MAX);
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int apply_string(InstanceSpec *s, const Option *o, const char *v, sd_bus_error *error) {
        const char *hidden;
        char **field = NULL;
        bool itself = false;

        if (strlen(v) > SPEC_STRING_MAX)
                return too_big(error,
                               o->name,
                               "too long (%zu bytes); at most %u.",
                               strlen(v),
                               SPEC_STRING_MAX);
        if (o->kind == OPT_PATH && !path_ok(v))
                return invalid(error,
                               o->name,
                               "'%s' is not an absolute path (no '..'). Give a full path.",
                               string_ok(v) ? v : "(unprintable)");
        if (!string_ok(v))
                return invalid(error,
                               o->name,
                               "must be printable text of at most %u bytes.",
                               SPEC_STRING_MAX);
        /* The VMM gets a fresh /tmp and /dev/shm: a kernel there would only fail later, in the
         * child, as "No such file or directory". Disks are bound back into the sandbox (OPT_PATHV,
         * not checked here). */
        if (o->kind == OPT_PATH && (hidden = instance_path_hidden_dir(v, &itself)))
                return invalid(error,
                               o->name,
                               "'%s' is %s%s, which the VMM does not see (it gets a private %s). Put the %s "
                               "under /var/tmp or your home directory.",
                               v,
                               itself ? "" : "under ",
                               hidden,
                               hidden,
                               streq(o->name, "host_package") || streq(o->name, "images_dir") ? "directory"
                                                                                              : "file");

        if (streq(o->name, "backend")) {
                Backend b = backend_from_string(v);
                if (b < 0)
                        return invalid(error, o->name, "unknown backend '%s'. Use qemu, crosvm or cvd.", v);
                s->backend = b;
                return 0;
        }
        if (streq(o->name, "restart")) {
                RestartPolicy p = restart_policy_from_string(v);
                if (p < 0)
                        return invalid(error,
                                       o->name,
                                       "unknown policy '%s'. Use no, on-failure or always.",
                                       v);
                s->restart = p;
                return 0;
        }
        if (streq(o->name, "gpu_mode")) {
                if (!streq(v, "auto") && gpu_mode_from_string(v) < 0)
                        return invalid(error,
                                       o->name,
                                       "unknown mode '%s'. Use auto, drm_virgl, gfxstream, guest_swiftshader or none.",
                                       v);
                field = &s->gpu_mode;
        } else if (streq(o->name, "boot_marker")) {
                if (strlen(v) == 0 || strlen(v) > INSTANCE_BOOT_MARKER_MAX)
                        return invalid(error,
                                       o->name,
                                       "must be 1 to %u characters.",
                                       INSTANCE_BOOT_MARKER_MAX);
                field = &s->boot_marker;
        } else if (streq(o->name, "kernel"))
                field = &s->kernel;
        else if (streq(o->name, "initrd"))
                field = &s->initrd;
        else if (streq(o->name, "cmdline"))
                field = &s->cmdline;
        else if (streq(o->name, "host_package"))
                field = &s->host_package;
        else if (streq(o->name, "images_dir"))
                field = &s->images_dir;
        else if (streq(o->name, "bios"))
                field = &s->bios;
        else
                return -EINVAL;

        free(*field);
        *field = strdup(v);
        return *field ? 0 : -ENOMEM;
}

static int apply_uint(InstanceSpec *s, const Option *o, uint32_t v, sd_bus_error *error) {
        if (v < o->min || v > o->max)
                return invalid(error, o->name, "%u is out of range. Use %u to %u.", v, o->min, o->max);
        if (streq(o->name, "number"))
                s->number = v;
        else if (streq(o->name, "cpus"))
                s->cpus = v;
        else if (streq(o->name, "memory_mb"))
                s->memory_mb = v;
        else if (streq(o->name, "boot_timeout_sec"))
                s->boot_timeout_sec = v;
        else if (streq(o->name, "stop_timeout_sec"))
                s->stop_timeout_sec = v;
        else
                return -EINVAL;
        return 0;
}

/* The option called key, or NULL. */
static const Option *option_find(const char *key, size_t *ret_idx) {
        for (size_t idx = 0; idx < ELEMENTSOF(options); idx++)
                if (streq(key, options[idx].name)) {
                        *ret_idx = idx;
                        return &options[idx];
                }
        return NULL;
}

/* The value of option o, inside its variant, applied to s. */
static int option_read_value(sd_bus_message *m, InstanceSpec *s, const Option *o, sd_bus_error *error) {
        int r = 0;

        switch (o->kind) {
        case OPT_STRING:
        case OPT_PATH: {
                const char *v;
                r = sd_bus_message_read(m, "s", &v);
                if (r >= 0)
                        r = apply_string(s, o, v, error);
                break;
        }
        case OPT_UINT: {
                uint32_t v;
                r = sd_bus_message_read(m, "u", &v);
                if (r >= 0)
                        r = apply_uint(s, o, v, error);
                break;
        }
        case OPT_BOOL: {
                int v;
                r = sd_bus_message_read(m, "b", &v);
                if (r >= 0 && streq(o->name, "start"))
                        s->start = v;
                else if (r >= 0 && streq(o->name, "autostart"))
                        s->autostart = v;
                else if (r >= 0)
                        s->crosvm_disable_sandbox = v;
                break;
        }
        case OPT_STRV:
        case OPT_PATHV:
                r = read_strv(m,
                              o,
                              streq(o->name, "disks")                    ? &s->disks
                                              : streq(o->name, "images") ? &s->images
                                                                         : &s->extra_args,
                              error);
                /* A base image is opened inside the sandbox, which has a /tmp of its own. */
                STRV_FOREACH (p, r >= 0 && streq(o->name, "images") ? s->images : NULL) {
                        const char *hidden;
                        bool itself;

                        if ((hidden = instance_path_hidden_dir(*p, &itself)))
                                return invalid(error,
                                               o->name,
                                               "'%s' is under %s, which the VMM does not see (it gets a "
                                               "private %s). Put the image under /var/tmp or your home "
                                               "directory.",
                                               *p,
                                               hidden,
                                               hidden);
                }
                break;
        }
        return r;
}

/* One {sv} entry: 0 read, 1 none left, <0 error. seen: the options given so far (bits by index). */
static int option_read_entry(sd_bus_message *m, InstanceSpec *s, uint32_t *seen, sd_bus_error *error) {
        const char *key, *contents;
        const Option *o;
        size_t idx = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'e', "sv");
        if (r <= 0)
                return r < 0 ? r : 1;
        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
                return r;
        o = option_find(key, &idx);
        if (!o)
                return invalid(error,
                               !string_ok(key)                    ? "(unprintable)"
                                               : strlen(key) < 64 ? key
                                                                  : "(too long)",
                               "unknown option. Known: backend, number, cpus, memory_mb, kernel, initrd, "
                               "cmdline, disks, gpu_mode, restart, boot_marker, boot_timeout_sec, "
                               "extra_args, host_package, images_dir, start, stop_timeout_sec, bios, "
                               "crosvm_disable_sandbox, autostart, images.");
        if (*seen & (1U << idx))
                return invalid(error, key, "given twice.");
        *seen |= 1U << idx;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!streq(contents, kind_signature(o->kind)))
                return invalid(error,
                               key,
                               "wrong type '%s'; it takes '%s'.",
                               contents,
                               kind_signature(o->kind));
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = option_read_value(m, s, o, error);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m); /* v */
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m); /* e */
        return r < 0 ? r : 0;
}

/* What no single option can check: whether the backend has something to boot, and the pairs. */
static int spec_check_combination(const InstanceSpec *s, sd_bus_error *error) {
        if (s->images && s->backend != BACKEND_QEMU)
                return invalid(error,
                               "images",
                               "overlays over shared images are made for the qemu backend only so far; use "
                               "disks with the %s backend.",
                               backend_to_string(s->backend));
        if (s->backend == BACKEND_QEMU && !s->kernel && !s->disks && !s->images)
                return invalid(error, "kernel", "the qemu backend needs a kernel or a disk to boot.");
        if (s->backend == BACKEND_CROSVM && !s->kernel && !s->bios && !s->disks)
                return invalid(error,
                               "kernel",
                               "the crosvm backend needs a kernel, a bios or a disk to boot.");
        if (s->backend == BACKEND_CVD && !s->images_dir)
                return invalid(error,
                               "images_dir",
                               "the cvd backend needs the directory with the device images (super.img, "
                               "boot.img, ...).");
        if (s->crosvm_disable_sandbox && s->backend != BACKEND_CROSVM)
                return invalid(error,
                               "crosvm_disable_sandbox",
                               "only the crosvm backend has that sandbox; drop the option.");
        if (s->initrd && !s->kernel)
                return invalid(error, "initrd", "an initrd needs a kernel too.");
        /* The cvd backend has a default marker, VIRTUAL_DEVICE_BOOT_COMPLETED. */
        if (s->boot_timeout_sec > 0 && !s->boot_marker && s->backend != BACKEND_CVD)
                return invalid(error,
                               "boot_timeout_sec",
                               "needs a boot_marker to know when the guest booted.");
        return 0;
}

int instance_spec_from_message(
                sd_bus_message *m, Backend default_backend, InstanceSpec *ret, sd_bus_error *error) {
        _cleanup_(instance_spec_done) InstanceSpec s;
        uint32_t seen = 0;
        int r;

        instance_spec_init(&s, default_backend);

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = option_read_entry(m, &s, &seen, error)) == 0)
                ;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        r = spec_check_combination(&s, error);
        if (r < 0)
                return r;

        *ret = s;
        s = (InstanceSpec){};
        return 0;
}
