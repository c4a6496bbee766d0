/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CreateInstance's option parser, instance_spec_from_message(), on any a{sv} the fuzz bytes
 * describe: no crash, no leak; an accepted spec obeys every documented limit; a refusal is an
 * InvalidOption (or, over a size limit, LimitsExceeded) error that starts "Option '" and leaves the
 * output untouched.
 *
 * Input format (every corpus file in tests/fuzz/fuzz-instance-options/ is one of these):
 *
 *   input := entry*                        read until the bytes run out (at most 1024 entries)
 *   entry := KLEN:u8 KEY[KLEN] SEL:u8 VALUE
 *
 * SEL % 10 picks the variant's type and the shape of VALUE (integers little-endian):
 *
 *   0 s      LEN:u16 BYTES[LEN]
 *   1 u      u32
 *   2 b      u8 (non-zero: true)
 *   3 as     COUNT:u8, then COUNT times LEN:u16 BYTES[LEN]
 *   4 i      i32
 *   5 t      u64
 *   6 d      8 bytes, an IEEE double
 *   7 a{sv}  COUNT:u8, then COUNT nested entries (beyond depth 3 they are consumed, not added)
 *   8 y      u8
 *   9 ay     LEN:u16 BYTES[LEN] (any bytes: a way to send non-UTF-8 where a string belongs)
 *
 * A field cut short by the end of the input takes what is left (integers are zero-padded).
 * D-Bus strings must be valid UTF-8 without NUL bytes, so sd-bus refuses others at append: an
 * entry whose key or 's' value is not, is consumed and left out; so is such an element of an
 * 'as'. Keys are arbitrary otherwise, so unknown and duplicate keys come for free.
 *
 * FUZZ_SHOW=1 in the environment prints each outcome (accepted, or the error message).
 *
 * The message is a method call built on a bus that is started on one end of a socketpair and
 * never completes its handshake: enough for sd-bus to create, seal and read messages. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "common/bus-api.h"
#include "daemon/instance-options.h"
#include "tests/fuzz/fuzz.h"
#include "daemon/instance.h"
#include "netsetup/plan.h"
#include "common/macro.h"
#include "common/strv.h"

#define INPUT_MAX (256 * 1024)
#define ENTRIES_MAX 1024
#define DEPTH_MAX 3

typedef struct Reader {
        const uint8_t *p;
        size_t left;
} Reader;

static uint64_t take_le(Reader *rd, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n && rd->left > 0; i++, rd->p++, rd->left--)
                v |= (uint64_t) *rd->p << (8 * i);
        return v;
}

/* Up to len bytes as a NUL-terminated copy; *ret_len is how many there were. */
static char *take_bytes(Reader *rd, size_t len, size_t *ret_len) {
        char *s;

        if (len > rd->left)
                len = rd->left;
        s = malloc(len + 1);
        if (!s)
                return NULL;
        memcpy(s, rd->p, len);
        s[len] = 0;
        rd->p += len;
        rd->left -= len;
        *ret_len = len;
        return s;
}

/* What sd-bus accepts as a string: UTF-8 without NULs, surrogates, or non-characters. */
static bool dbus_string_ok(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len;

                if (u[i] == 0)
                        return false;
                if (u[i] < 0x80) {
                        i++;
                        continue;
                }
                if ((u[i] & 0xe0) == 0xc0)
                        len = 2, c = u[i] & 0x1f;
                else if ((u[i] & 0xf0) == 0xe0)
                        len = 3, c = u[i] & 0x0f;
                else if ((u[i] & 0xf8) == 0xf0)
                        len = 4, c = u[i] & 0x07;
                else
                        return false;
                if (i + len > n)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((u[i + k] & 0xc0) != 0x80)
                                return false;
                        c = (c << 6) | (u[i + k] & 0x3f);
                }
                if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000))
                        return false; /* overlong */
                if (c >= 0x110000 || (c & 0xfffff800) == 0xd800 || (c >= 0xfdd0 && c <= 0xfdef) ||
                    (c & 0xfffe) == 0xfffe)
                        return false;
                i += len;
        }
        return true;
}

static const char *const types[] = { "s", "u", "b", "as", "i", "t", "d", "a{sv}", "y", "ay" };

static int put_entry(Reader *rd, sd_bus_message *m, unsigned depth);

/* Consumes one VALUE of type sel; appends it to m unless m is NULL. < 0: m is unusable. */
static int put_value(Reader *rd, sd_bus_message *m, unsigned sel, unsigned depth) {
        _cleanup_free_ char *s = NULL;
        size_t len, count;
        uint64_t v;
        int r = 0;

        switch (sel) {
        case 0: /* s: only reached with m == NULL; put_entry appends strings itself */
        case 9: /* ay */
                s = take_bytes(rd, take_le(rd, 2), &len);
                if (!s)
                        return -ENOMEM;
                if (!m)
                        return 0;
                if (sel == 0)
                        return sd_bus_message_append_basic(m, 's', s);
                return sd_bus_message_append_array(m, 'y', s, len);
        case 1:
        case 4: {
                uint32_t u = (uint32_t) take_le(rd, 4);
                return m ? sd_bus_message_append_basic(m, sel == 1 ? 'u' : 'i', &u) : 0;
        }
        case 2: {
                int b = take_le(rd, 1) != 0;
                return m ? sd_bus_message_append_basic(m, 'b', &b) : 0;
        }
        case 5:
        case 6: {
                double d;

                v = take_le(rd, 8);
                memcpy(&d, &v, sizeof(d));
                if (!m)
                        return 0;
                return sel == 5 ? sd_bus_message_append_basic(m, 't', &v)
                                : sd_bus_message_append_basic(m, 'd', &d);
        }
        case 8: {
                uint8_t y = (uint8_t) take_le(rd, 1);
                return m ? sd_bus_message_append_basic(m, 'y', &y) : 0;
        }
        case 3: /* as */
                count = take_le(rd, 1);
                if (m) {
                        r = sd_bus_message_open_container(m, 'a', "s");
                        if (r < 0)
                                return r;
                }
                for (size_t k = 0; k < count; k++) {
                        _cleanup_free_ char *e = take_bytes(rd, take_le(rd, 2), &len);

                        if (!e)
                                return -ENOMEM;
                        if (m && dbus_string_ok(e, len)) {
                                r = sd_bus_message_append_basic(m, 's', e);
                                if (r < 0)
                                        return r;
                        }
                }
                return m ? sd_bus_message_close_container(m) : 0;
        case 7: /* a{sv} */
                count = take_le(rd, 1);
                if (m) {
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                        if (r < 0)
                                return r;
                }
                for (size_t k = 0; k < count; k++) {
                        r = put_entry(rd, depth < DEPTH_MAX ? m : NULL, depth + 1);
                        if (r < 0)
                                return r;
                }
                return m ? sd_bus_message_close_container(m) : 0;
        }
        assert(false);
        return -EINVAL;
}

static int put_entry(Reader *rd, sd_bus_message *m, unsigned depth) {
        _cleanup_free_ char *key = NULL, *str = NULL;
        size_t klen, slen = 0;
        unsigned sel;
        bool skip;
        int r;

        key = take_bytes(rd, take_le(rd, 1), &klen);
        if (!key)
                return -ENOMEM;
        sel = take_le(rd, 1) % ELEMENTSOF(types);
        skip = !m || !dbus_string_ok(key, klen);
        if (sel == 0) {
                str = take_bytes(rd, take_le(rd, 2), &slen);
                if (!str)
                        return -ENOMEM;
                skip = skip || !dbus_string_ok(str, slen);
        }
        if (skip)
                return sel == 0 ? 0 : put_value(rd, NULL, sel, depth);

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append_basic(m, 's', key);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', types[sel]);
        if (r < 0)
                return r;
        if (sel == 0)
                r = sd_bus_message_append_basic(m, 's', str);
        else
                r = put_value(rd, m, sel, depth);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m); /* v */
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m); /* e */
}

/* Created once; also registers our error names, as the daemon does at start. */
static sd_bus *fuzz_bus(void) {
        static sd_bus *bus = NULL;
        int fds[2];

        if (bus)
                return bus;
        assert(sd_bus_error_add_map(cf_bus_errors) >= 0);
        /* fds[1], the peer, stays open for the life of the process; nobody reads it. */
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        assert(sd_bus_new(&bus) >= 0);
        assert(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        assert(sd_bus_start(bus) >= 0);
        return bus;
}

static bool path_shape_ok(const char *p) {
        if (!p)
                return true;
        if (p[0] != '/' || strlen(p) > SPEC_STRING_MAX)
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        /* No ".." path component anywhere. */
        for (const char *c = p; *c;) {
                size_t n;

                c += strspn(c, "/");
                n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                c += n;
        }
        return true;
}

static bool text_ok(const char *s) {
        if (!s)
                return true;
        if (strlen(s) > SPEC_STRING_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        return true;
}

static void check_accepted(const InstanceSpec *s) {
        static const char *const gpu_modes[] = {
                "auto", "drm_virgl", "gfxstream", "guest_swiftshader", "none"
        };
        bool gpu_known = !s->gpu_mode;

        assert(s->backend >= 0 && s->backend < _BACKEND_MAX);
        assert(s->restart >= 0 && s->restart < _RESTART_MAX);
        assert(s->number <= NET_SLOTS_MAX);
        assert(s->cpus >= 1 && s->cpus <= SPEC_CPUS_MAX);
        assert(s->memory_mb >= SPEC_MEMORY_MB_MIN && s->memory_mb <= SPEC_MEMORY_MB_MAX);
        assert(s->boot_timeout_sec <= SPEC_BOOT_TIMEOUT_MAX);
        assert(s->stop_timeout_sec <= 3600);
        assert(path_shape_ok(s->kernel) && path_shape_ok(s->initrd));
        assert(path_shape_ok(s->host_package) && path_shape_ok(s->images_dir));
        assert(text_ok(s->cmdline));
        assert(strv_length(s->disks) <= SPEC_LIST_MAX && strv_length(s->extra_args) <= SPEC_LIST_MAX);
        STRV_FOREACH (d, s->disks)
                assert(path_shape_ok(*d));
        STRV_FOREACH (a, s->extra_args)
                assert(text_ok(*a));
        for (size_t k = 0; k < ELEMENTSOF(gpu_modes); k++)
                gpu_known = gpu_known || streq(s->gpu_mode, gpu_modes[k]);
        assert(gpu_known);
        assert(!s->boot_marker ||
               (strlen(s->boot_marker) >= 1 && strlen(s->boot_marker) <= INSTANCE_BOOT_MARKER_MAX &&
                text_ok(s->boot_marker)));
        /* The cross-field rules. */
        assert(s->backend != BACKEND_QEMU || s->kernel || s->disks);
        assert(!s->initrd || s->kernel);
        assert(s->boot_timeout_sec == 0 || s->boot_marker);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        InstanceSpec spec = { .cpus = 0xc0ffee }; /* a marker: failure must leave it */
        Reader rd = { data, size };
        int r;

        if (size > INPUT_MAX)
                return 0;
        r = sd_bus_message_new_method_call(
                        fuzz_bus(),
                        &m,
                        "org.cuttlefish.HostResources1",
                        "/org/cuttlefish/HostResources1",
                        "org.cuttlefish.HostResources1.Manager",
                        "CreateInstance");
        assert(r >= 0);
        assert(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        for (unsigned n = 0; rd.left > 0 && n < ENTRIES_MAX; n++) {
                r = put_entry(&rd, m, 0);
                if (r == -ENOMEM)
                        return 0;
                /* A string our check let through but sd-bus refused: the message is half-built. */
                if (r < 0)
                        return 0;
        }
        assert(sd_bus_message_close_container(m) >= 0);
        assert(sd_bus_message_seal(m, 1, 0) >= 0);
        assert(sd_bus_message_rewind(m, true) >= 0);

        r = instance_spec_from_message(m, BACKEND_QEMU, &spec, &error);
        /* FUZZ_SHOW=1 build/tests/fuzz/fuzz-instance-options FILE...: each outcome. */
        if (getenv("FUZZ_SHOW"))
                fprintf(stderr,
                        "%s%s\n",
                        r < 0 ? "refused: " : "accepted",
                        r < 0 ? strempty(error.message) : "");
        if (r < 0) {
                /* Untouched output; every refusal of well-formed input is a named, keyed error. */
                assert(spec.cpus == 0xc0ffee && !spec.kernel && !spec.disks && !spec.extra_args);
                if (r == -ENOMEM)
                        return 0;
                assert(sd_bus_error_has_names(
                                &error, BUS_ERROR_INVALID_OPTION, SD_BUS_ERROR_LIMITS_EXCEEDED));
                assert(error.message && strncmp(error.message, "Option '", 8) == 0);
                /* sd-bus maps LimitsExceeded to ENOBUFS. */
                assert(r ==
                       (sd_bus_error_has_name(&error, SD_BUS_ERROR_LIMITS_EXCEEDED) ? -ENOBUFS : -EINVAL));
                return 0;
        }

        assert(r == 0);
        assert(!sd_bus_error_is_set(&error));
        check_accepted(&spec);
        instance_spec_done(&spec);
        return 0;
}
