/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vhost brokering, for what runs on a host without /dev/vhost-vsock and /dev/vhost-net: the
 * absent devices, a device that is not vhost, the CID rule, and QEMU's command line with and
 * without brokered fds. Claiming a CID and a clash (EADDRINUSE) need the real device: when this
 * host has it, the test claims slot 250's CID twice and expects the clash. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netsetup/plan.h"
#include "vmm/qemu.h"
#include "common/macro.h"
#include "common/strv.h"
#include "vmm/vhost.h"

static void test_cid_rule(void) {
        /* Cuttlefish: CID = 3 + instance - 1 (REFERENCE.md §3); DESIGN.md §6: N + 2. */
        assert(slot_vsock_cid(1) == 3);
        assert(slot_vsock_cid(10) == 12);
        assert(slot_vsock_cid(250) == 252);
        for (unsigned n = 1; n <= 250; n++)
                assert(vhost_vsock_cid_valid(slot_vsock_cid(n)));
        assert(!vhost_vsock_cid_valid(0) && !vhost_vsock_cid_valid(1) && !vhost_vsock_cid_valid(2));
        assert(!vhost_vsock_cid_valid(UINT32_MAX));
}

static void test_absent_or_wrong(void) {
        int fd = -1;

        assert(vhost_vsock_open("/nonexistent/vhost-vsock", 3, &fd) == -ENOENT);
        assert(vhost_net_open("/nonexistent/vhost-net", &fd) == -ENOENT);
        assert(fd == -1);
        assert(vhost_vsock_open(NULL, 2, &fd) == -EINVAL);
        /* A character device that is not vhost: the claim fails, nothing is kept. */
        assert(vhost_vsock_open("/dev/null", 3, &fd) == -ENOTTY);
        /* Not a character device at all. */
        assert(vhost_net_open("/", &fd) < 0);
        assert(fd == -1);
}

static void test_real_device(void) {
        int a = -1, b = -1, r;

        r = vhost_vsock_open(NULL, slot_vsock_cid(250), &a);
        if (r == -ENOENT || r == -EACCES || r == -EPERM) {
                printf("# %s not usable here (%s): CID claim and clash untested on this host\n",
                       VHOST_VSOCK_DEVICE,
                       strerror(-r));
                return;
        }
        assert(r == 0);
        assert(vhost_vsock_open(NULL, slot_vsock_cid(250), &b) == -EADDRINUSE);
        close(a);
        assert(vhost_vsock_open(NULL, slot_vsock_cid(250), &b) == 0);
        close(b);
}

static void test_qemu_argv(void) {
        _cleanup_(strv_freep) char **plain = NULL, **brokered = NULL;
        QemuPlan plan = {
                .qemu = "/usr/bin/qemu-system-x86_64",
                .qmp_fd = 9,
                .n_nics = 1,
                .macs = { "00:1a:11:e1:cf:00" },
        };
        InstanceSpec spec;
        bool vsock = false, vhost = false;

        instance_spec_init(&spec, BACKEND_QEMU);
        assert(qemu_build_argv(&spec, &plan, &plain) == 0);
        STRV_FOREACH (a, plain)
                assert(!strstr(*a, "vhost")); /* no device: never a blind vhost=on */

        plan.vhost_net_fds[0] = 4;
        plan.vsock_fd = 5;
        plan.vsock_cid = 3;
        assert(qemu_build_argv(&spec, &plan, &brokered) == 0);
        STRV_FOREACH (a, brokered) {
                vhost = vhost || streq(*a, "tap,id=net0,fd=3,vhost=on,vhostfd=4");
                vsock = vsock || streq(*a, "vhost-vsock-pci,vhostfd=5,guest-cid=3");
        }
        assert(vhost && vsock);
}

int main(void) {
        test_cid_rule();
        test_absent_or_wrong();
        test_real_device();
        test_qemu_argv();
        printf("vhost: OK\n");
        return 0;
}
