/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CreateInstance's option parser (daemon/instance-options.c): the lexical check that refuses
 * caller paths the VMM cannot see (/tmp, /dev/shm), its InvalidOption messages, and the
 * boot_marker warning. Messages are built on a bus started on one end of a socketpair that never
 * completes its handshake: enough for sd-bus to create, seal and read them. */
#undef NDEBUG
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "common/bus-api.h"
#include "daemon/instance-options.h"
#include "common/macro.h"

static sd_bus *test_bus(void) {
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

/* A CreateInstance call with string options (key, value, ..., NULL) and, if disk is not NULL, a
 * one-entry "disks". */
static sd_bus_message *create_call(const char *disk, ...) {
        sd_bus_message *m = NULL;
        va_list ap;

        assert(sd_bus_message_new_method_call(
                               test_bus(),
                               &m,
                               "org.cuttlefish.HostResources1",
                               "/org/cuttlefish/HostResources1",
                               "org.cuttlefish.HostResources1.Manager",
                               "CreateInstance") >= 0);
        assert(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        va_start(ap, disk);
        for (const char *k; (k = va_arg(ap, const char *));) {
                const char *v = va_arg(ap, const char *);
                assert(sd_bus_message_append(m, "{sv}", k, "s", v) >= 0);
        }
        va_end(ap);
        if (disk)
                assert(sd_bus_message_append(m, "{sv}", "disks", "as", 1, disk) >= 0);
        assert(sd_bus_message_close_container(m) >= 0);
        assert(sd_bus_message_seal(m, 1, 0) >= 0);
        assert(sd_bus_message_rewind(m, true) >= 0);
        return m;
}

/* Parses m, which must be refused with InvalidOption and exactly message; m is consumed. */
static void parse_refused(sd_bus_message *m, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        InstanceSpec spec = { .cpus = 0xc0ffee };
        int r;

        r = instance_spec_from_message(m, BACKEND_QEMU, &spec, &error);
        sd_bus_message_unref(m);
        if (r != -EINVAL || !sd_bus_error_has_name(&error, BUS_ERROR_INVALID_OPTION) ||
            !streq_ptr(error.message, message)) {
                fprintf(stderr,
                        "expected InvalidOption \"%s\",\n     got %d %s \"%s\"\n",
                        message,
                        r,
                        strempty(error.name),
                        strempty(error.message));
                assert(false);
        }
        /* Nothing written on failure. */
        assert(spec.cpus == 0xc0ffee && !spec.kernel && !spec.disks);
}

/* Parses m, which must be accepted; m is consumed. */
static void parse_accepted(sd_bus_message *m, Backend default_backend) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        InstanceSpec spec = {};
        int r;

        r = instance_spec_from_message(m, default_backend, &spec, &error);
        sd_bus_message_unref(m);
        if (r < 0) {
                fprintf(stderr, "unexpected refusal %d: %s\n", r, strempty(error.message));
                assert(r >= 0);
        }
        instance_spec_done(&spec);
}

static void check_hidden(const char *path, const char *dir, bool itself) {
        bool got_itself = !itself;
        const char *got = instance_path_hidden_dir(path, &got_itself);

        if (!streq_ptr(got, dir) || (dir && got_itself != itself)) {
                fprintf(stderr,
                        "%s: expected %s%s, got %s%s\n",
                        strempty(path),
                        dir ?: "NULL",
                        dir && itself ? " (itself)" : "",
                        got ?: "NULL",
                        got && got_itself ? " (itself)" : "");
                assert(false);
        }
        /* ret_itself is optional. */
        assert(streq_ptr(instance_path_hidden_dir(path, NULL), dir));
}

static void test_hidden_dir(void) {
        check_hidden("/tmp/bzImage", "/tmp", false);
        check_hidden("/tmp/a/b/c", "/tmp", false);
        check_hidden("/tmp", "/tmp", true);
        check_hidden("/tmp/", "/tmp", true);
        check_hidden("/tmp/.", "/tmp", true);
        check_hidden("//tmp/x", "/tmp", false);
        check_hidden("///tmp//x//", "/tmp", false);
        check_hidden("/tmp/./x", "/tmp", false);
        check_hidden("/./tmp/x", "/tmp", false);
        check_hidden("/var/../tmp/x", "/tmp", false);
        check_hidden("/../tmp/x", "/tmp", false);
        check_hidden("/x/y/../../tmp", "/tmp", true);
        check_hidden("/tmp/a/../b", "/tmp", false);
        check_hidden("/tmp/a/..", "/tmp", true);
        check_hidden("/dev/shm", "/dev/shm", true);
        check_hidden("/dev/shm/", "/dev/shm", true);
        check_hidden("/dev/shm/x", "/dev/shm", false);
        check_hidden("/dev//shm/./x", "/dev/shm", false);
        check_hidden("//dev/shm//x", "/dev/shm", false);
        check_hidden("/var/../dev/shm/x", "/dev/shm", false);
        check_hidden("/dev/x/../shm/y", "/dev/shm", false);

        check_hidden("/tmp/..", NULL, false);
        check_hidden("/tmp/../var/x", NULL, false);
        check_hidden("/tmp/a/../../var/x", NULL, false);
        check_hidden("/var/tmp/x", NULL, false);
        check_hidden("/var/tmp", NULL, false);
        check_hidden("/home/u/tmp/x", NULL, false);
        check_hidden("/tmpfoo/x", NULL, false);
        check_hidden("/tmp.img", NULL, false);
        check_hidden("/tm", NULL, false);
        check_hidden("/TMP/x", NULL, false);
        check_hidden("/dev", NULL, false);
        check_hidden("/dev/", NULL, false);
        check_hidden("/dev/null", NULL, false);
        check_hidden("/dev/shmem", NULL, false);
        check_hidden("/dev/shm/../null", NULL, false);
        check_hidden("/shm/x", NULL, false);
        check_hidden("/boot/vmlinuz", NULL, false);
        check_hidden("/", NULL, false);
        check_hidden("//", NULL, false);
        check_hidden("/..", NULL, false);
        /* Relative paths are the shape check's business. */
        check_hidden("tmp/x", NULL, false);
        check_hidden("./tmp/x", NULL, false);
        check_hidden("", NULL, false);
        check_hidden(NULL, NULL, false);
}

static void test_parser_hidden_paths(void) {
        parse_refused(create_call(NULL, "kernel", "/tmp/bzImage", NULL),
                      "Option 'kernel': '/tmp/bzImage' is under /tmp, which the VMM does not see (it gets "
                      "a private /tmp). Put the file under /var/tmp or your home directory.");
        parse_refused(create_call(NULL, "kernel", "//tmp/x", NULL),
                      "Option 'kernel': '//tmp/x' is under /tmp, which the VMM does not see (it gets a "
                      "private /tmp). Put the file under /var/tmp or your home directory.");
        parse_refused(create_call(NULL, "kernel", "/boot/vmlinuz", "initrd", "/tmp/./initrd.img", NULL),
                      "Option 'initrd': '/tmp/./initrd.img' is under /tmp, which the VMM does not see (it "
                      "gets a private /tmp). Put the file under /var/tmp or your home directory.");
        parse_refused(create_call(NULL, "kernel", "/boot/vmlinuz", "bios", "/dev/shm/bios.bin", NULL),
                      "Option 'bios': '/dev/shm/bios.bin' is under /dev/shm, which the VMM does not see "
                      "(it gets a private /dev/shm). Put the file under /var/tmp or your home directory.");
        parse_refused(create_call(NULL, "backend", "cvd", "images_dir", "/tmp", NULL),
                      "Option 'images_dir': '/tmp' is /tmp, which the VMM does not see (it gets a private "
                      "/tmp). Put the directory under /var/tmp or your home directory.");
        parse_refused(create_call(NULL,
                                  "backend",
                                  "cvd",
                                  "images_dir",
                                  "/srv/img",
                                  "host_package",
                                  "/tmp/cvd/",
                                  NULL),
                      "Option 'host_package': '/tmp/cvd/' is under /tmp, which the VMM does not see (it "
                      "gets a private /tmp). Put the directory under /var/tmp or your home directory.");
        /* ".." is refused before anything else looks at the path. */
        parse_refused(create_call(NULL, "kernel", "/var/../tmp/x", NULL),
                      "Option 'kernel': '/var/../tmp/x' is not an absolute path (no '..'). Give a full "
                      "path.");

        /* What the VMM does see. */
        parse_accepted(create_call(NULL, "kernel", "/var/tmp/bzImage", NULL), BACKEND_QEMU);
        parse_accepted(create_call(NULL, "kernel", "/tmpfoo/bzImage", "initrd", "/dev/shmem", NULL),
                       BACKEND_QEMU);
        parse_accepted(create_call(NULL, "backend", "cvd", "images_dir", "/home/u/tmp", NULL), BACKEND_QEMU);
        /* Disks are bound into the sandbox, even from /tmp and /dev/shm. */
        parse_accepted(create_call("/tmp/disk.img", NULL), BACKEND_QEMU);
        parse_accepted(create_call("/dev/shm/disk.img", "kernel", "/boot/vmlinuz", NULL), BACKEND_QEMU);
}

#define WARNING_TEXT \
        "boot_marker is read from the serial console, but cmdline has no console= (add console=ttyS0)"

static void check_warning(Backend backend, const char *marker, const char *cmdline, const char *expected) {
        char sentinel[] = "unchanged", *w = sentinel;
        InstanceSpec spec;
        int r;

        instance_spec_init(&spec, backend);
        spec.boot_marker = (char *) marker;
        spec.cmdline = (char *) cmdline;
        r = instance_spec_warning(&spec, &w);
        if (r != (expected ? 1 : 0) || !streq_ptr(w, expected)) {
                fprintf(stderr,
                        "%s marker=%s cmdline=%s: expected %s, got %d %s\n",
                        backend_to_string(backend),
                        strempty(marker),
                        strempty(cmdline),
                        expected ?: "NULL",
                        r,
                        w ?: "NULL");
                assert(false);
        }
        free(w);
}

static void test_warning(void) {
        char *w = NULL;

        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet", WARNING_TEXT);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "", WARNING_TEXT);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "   ", WARNING_TEXT);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "root=/dev/vda earlycon", WARNING_TEXT);
        /* Not a word of its own. */
        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet xconsole=ttyS0", WARNING_TEXT);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet console", WARNING_TEXT);
        /* After "--" the words go to init, not to the kernel. */
        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet -- console=ttyS0", WARNING_TEXT);

        check_warning(BACKEND_QEMU, "CF-BOOTED", "console=ttyS0", NULL);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "console=ttyS0 quiet", NULL);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet console=ttyS0,115200n8", NULL);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "  quiet\tconsole=tty0  ", NULL);
        check_warning(BACKEND_QEMU, "CF-BOOTED", "quiet --foo console=hvc0", NULL);
        /* No marker, no cmdline (the guest's own applies), or another backend: nothing to say. */
        check_warning(BACKEND_QEMU, NULL, "quiet", NULL);
        check_warning(BACKEND_QEMU, "CF-BOOTED", NULL, NULL);
        check_warning(BACKEND_CROSVM, "CF-BOOTED", "quiet", NULL);
        check_warning(BACKEND_CVD, "CF-BOOTED", "quiet", NULL);

        assert(instance_spec_warning(NULL, &w) == -EINVAL && !w);
}

int main(void) {
        test_hidden_dir();
        test_parser_hidden_paths();
        test_warning();
        printf("ok\n");
        return 0;
}
