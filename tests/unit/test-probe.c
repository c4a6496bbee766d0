/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure parts of the host checks: prefix overlap, and whether a NetworkManager configuration
 * keeps it off every cvd-* link. (Routes and nftables are checked in the integration suite, in a
 * network namespace: tests/integration/test-doctor-conditions.sh.) */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "netsetup/probe.h"
#include "common/macro.h"

static struct in_addr ip(const char *s) {
        struct in_addr a;

        assert(inet_pton(AF_INET, s, &a) == 1);
        return a;
}

static void test_overlap(void) {
        assert(ipv4_prefixes_overlap(ip("192.168.96.0"), 24, ip("192.168.96.0"), 24));
        assert(ipv4_prefixes_overlap(ip("192.168.96.128"), 25, ip("192.168.96.0"), 24));
        assert(ipv4_prefixes_overlap(ip("192.168.0.0"), 16, ip("192.168.97.4"), 30));
        assert(ipv4_prefixes_overlap(ip("192.168.97.5"), 32, ip("192.168.97.4"), 30));
        assert(!ipv4_prefixes_overlap(ip("192.168.97.8"), 32, ip("192.168.97.4"), 30));
        assert(!ipv4_prefixes_overlap(ip("192.168.99.0"), 24, ip("192.168.98.0"), 24));
        assert(!ipv4_prefixes_overlap(ip("10.0.0.0"), 8, ip("192.168.98.0"), 24));
        assert(ipv4_prefixes_overlap(ip("0.0.0.0"), 0, ip("192.168.98.0"), 24));
}

static void test_nm_conf(void) {
        /* The package's own file (NetworkManager/99-cuttlefish-host-resources.conf). */
        assert(nm_conf_covers_cvd("# Keep NetworkManager off the service's bridges and taps\n"
                                  "[keyfile]\n"
                                  "unmanaged-devices=interface-name:cvd-*\n") == 1);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices+=interface-name:cvd-*\n") == 1);
        assert(nm_conf_covers_cvd("[main]\nplugins=keyfile\n\n[keyfile]\n"
                                  "unmanaged-devices = mac:00:11:22:33:44:55;interface-name:docker0;"
                                  "interface-name:cvd*\n") == 1);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices=interface-name:~cvd-*\n") == 1);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices=interface-name:*\n") == 1);

        /* Not everything, not in [keyfile], or not a name match. */
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices=interface-name:cvd-e*\n") == 0);
        assert(nm_conf_covers_cvd(
                               "[keyfile]\nunmanaged-devices=interface-name:cvd-e*,interface-name:cvd-w*\n") ==
               0);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices=interface-name:=cvd-ebr\n") == 0);
        assert(nm_conf_covers_cvd("[main]\nunmanaged-devices=interface-name:cvd-*\n") == 0);
        assert(nm_conf_covers_cvd("[keyfile]\n#unmanaged-devices=interface-name:cvd-*\n") == 0);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices-x=interface-name:cvd-*\n") == 0);
        assert(nm_conf_covers_cvd("") == 0);
        assert(nm_conf_covers_cvd("[keyfile]\nunmanaged-devices=driver:tun\n") == 0);
}

static void test_issues(void) {
        _cleanup_(host_issues_done) HostIssues l = {};

        assert(host_issues_add(&l, "tun", true, "sudo modprobe tun", "no %s", "/dev/net/tun") == 0);
        assert(host_issues_add(&l, "container", false, NULL, "in docker") == 0);
        assert(l.n == 2);
        assert(streq(l.items[0].detail, "no /dev/net/tun") && l.items[0].problem);
        assert(!l.items[1].fix && !l.items[1].problem);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "overlap", test_overlap },
                { "nm_conf", test_nm_conf },
                { "issues", test_issues },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - probe: %s\n", i + 1, tests[i].name);
                fflush(stdout);
        }
        return EXIT_SUCCESS;
}
