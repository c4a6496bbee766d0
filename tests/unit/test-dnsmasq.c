/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dnsmasq: the generated config (REFERENCE.md §2's command line as a file) and the lease parser. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/dnsmasq.h"
#include "common/macro.h"

#define LEASES "/var/lib/cuttlefish-host-resources/dnsmasq-cvd-ebr.leases"

/* 1 if text has a line that is exactly line. */
static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == 0))
                        return true;
        return false;
}

static void assert_line(const char *text, const char *line, bool expected) {
        if (has_line(text, line) != expected) {
                fprintf(stderr, "expected%s line '%s' in:\n%s\n", expected ? "" : " no", line, text);
                assert(has_line(text, line) == expected);
        }
}

static char *build(const NetConfig *c, size_t bridge) {
        BridgePlan b[NET_BRIDGES];
        char *text = NULL;

        net_config_bridges(c, b);
        assert(dnsmasq_config_build(c, &b[bridge], LEASES, &text) == 0);
        assert(text);
        return text;
}

static void test_config_ethernet(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        text = build(&c, 0);

        /* The reference's command line, option by option. */
        assert_line(text, "port=0", true);
        assert_line(text, "strict-order", true);
        assert_line(text, "except-interface=lo", true);
        assert_line(text, "interface=cvd-ebr", true);
        assert_line(text, "listen-address=192.168.98.1", true);
        assert_line(text, "bind-interfaces", true);
        assert_line(text, "dhcp-range=192.168.98.2,192.168.98.255", true);
        assert_line(text, "dhcp-option=option:dns-server,8.8.8.8,8.8.4.4", true);
        assert_line(text,
                    "dhcp-option=option6:dns-server,[2001:4860:4860::8888],[2001:4860:4860::8844]",
                    true);
        assert_line(text, "dhcp-no-override", true);
        assert_line(text, "dhcp-leasefile=" LEASES, true);
        /* Ours: no /etc/resolv.conf or /etc/hosts, privileges dropped. */
        assert_line(text, "no-resolv", true);
        assert_line(text, "no-hosts", true);
        assert_line(text, "user=nobody", true);

        /* dhcp_ping defaults on; no IPv6 prefix, so no RA. */
        assert_line(text, "no-ping", false);
        assert_line(text, "enable-ra", false);
        assert(!strstr(text, "ra-stateless"));
        /* Nothing of the other bridge. */
        assert(!strstr(text, "cvd-wbr"));
        assert(!strstr(text, "192.168.96."));
        /* Every line is a comment or an option; dnsmasq rejects anything else. */
        for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
                assert(strchr(p, '\n'));
                assert(*p == '#' || (*p >= 'a' && *p <= 'z'));
        }
        net_config_done(&c);
}

static void test_config_wifi(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        text = build(&c, 1);
        assert_line(text, "interface=cvd-wbr", true);
        assert_line(text, "listen-address=192.168.96.1", true);
        assert_line(text, "dhcp-range=192.168.96.2,192.168.96.255", true);
        assert_line(text, "port=0", true);
        assert(!strstr(text, "cvd-ebr\n"));
        net_config_done(&c);
}

static void test_config_no_ping(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.dhcp_ping = false;
        text = build(&c, 0);
        assert_line(text, "no-ping", true);
        net_config_done(&c);
}

static void test_config_ipv6(void) {
        _cleanup_free_ char *e = NULL, *w = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.ethernet_ipv6_prefix = strdup("2001:db8:e::");
        c.ethernet_ipv6_prefix_length = 64;
        assert(c.ethernet_ipv6_prefix);
        e = build(&c, 0);
        w = build(&c, 1);
        assert_line(e, "dhcp-range=2001:db8:e::,ra-stateless,64", true);
        assert_line(e, "enable-ra", true);
        /* The wifi bridge has no prefix of its own. */
        assert_line(w, "enable-ra", false);
        assert(!strstr(w, "2001:db8:e::"));
        net_config_done(&c);
}

static void test_config_dns(void) {
        _cleanup_free_ char *text = NULL, *none = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.dns_servers[0].s_addr = htonl(0x01010101);
        c.n_dns_servers = 1;
        c.n_dns6_servers = 0;
        c.dnsmasq_user = mfree(c.dnsmasq_user);
        text = build(&c, 0);
        assert_line(text, "dhcp-option=option:dns-server,1.1.1.1", true);
        assert(!strstr(text, "option6:dns-server"));
        assert(!strstr(text, "user="));

        /* No servers, no option: dnsmasq would otherwise announce itself, and it has no DNS. */
        c.n_dns_servers = 0;
        none = build(&c, 0);
        assert(!strstr(none, "dns-server"));
        net_config_done(&c);
}

static void test_config_unmanaged(void) {
        BridgePlan b[NET_BRIDGES];
        char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        net_config_bridges(&c, b);
        /* Not our bridge: no dnsmasq on it. */
        assert(dnsmasq_config_build(&c, &b[0], LEASES, &text) == -EINVAL);
        assert(dnsmasq_config_build(&c, &b[1], LEASES, &text) == -EINVAL);
        assert(!text);
        net_config_done(&c);
}

static void test_paths(void) {
        _cleanup_free_ char *conf = NULL, *leases = NULL;

        assert(dnsmasq_config_path("/run/cfhr", "cvd-ebr", &conf) == 0);
        assert(streq(conf, "/run/cfhr/dnsmasq-cvd-ebr.conf"));
        assert(dnsmasq_lease_path("/var/lib/cfhr", "cvd-wbr", &leases) == 0);
        assert(streq(leases, "/var/lib/cfhr/dnsmasq-cvd-wbr.leases"));
}

static void test_leases(void) {
        static const char text[] =
                        "1795322251 00:1a:11:e1:cf:02 192.168.98.23 guest3 01:00:1a:11:e1:cf:02\n"
                        "1795322260 00:1a:11:e2:cf:00 192.168.96.170 * 01:00:1a:11:e2:cf:00\n"
                        "\n"
                        "0 00:1a:11:e1:cf:09 192.168.98.100 * *\n"
                        "duid 00:01:00:01:2c:5b:6e:3a:02:42:ac:11:00:02\n"
                        "1795322300 2883158054 2001:db8:e::1234 guest3 00:01:00:01:2c:5b:6e:3a:02:42\n"
                        "garbage\n"
                        "this is not a lease at all\n"
                        "1795322251 zz:1a:11:e1:cf:02 192.168.98.24 host x\n"
                        "1795322251 00:1a:11:e1:cf:03\n"
                        "-5 00:1a:11:e1:cf:04 192.168.98.25 host x\n"
                        "17953222510000000000 00:1a:11:e1:cf:05 192.168.98.26 host x\n"
                        "1795322251 00:1a:11:e1:cf:06:07 192.168.98.27 host x\n"
                        "1795322251\t00:1a:11:e1:cf:0a\t192.168.98.30\ttabbed\t*";
        _cleanup_free_ DnsmasqLease *l = NULL;
        size_t n = SIZE_MAX;

        assert(dnsmasq_leases_parse(text, &l, &n) == 0);
        assert(n == 4);

        assert(l[0].expires == 1795322251);
        assert(memcmp(l[0].mac, (const uint8_t[]){ 0x00, 0x1a, 0x11, 0xe1, 0xcf, 0x02 }, 6) == 0);
        assert(streq(l[0].ip, "192.168.98.23"));
        assert(streq(l[0].hostname, "guest3"));

        assert(l[1].expires == 1795322260);
        assert(l[1].mac[3] == 0xe2 && l[1].mac[5] == 0x00);
        assert(streq(l[1].ip, "192.168.96.170"));
        assert(streq(l[1].hostname, "")); /* "*" is no name */

        assert(l[2].expires == 0); /* infinite */
        assert(l[2].mac[5] == 0x09);
        assert(streq(l[2].ip, "192.168.98.100"));

        assert(streq(l[3].ip, "192.168.98.30"));
        assert(streq(l[3].hostname, "tabbed"));
}

static void test_leases_edge(void) {
        _cleanup_free_ DnsmasqLease *empty = NULL, *junk = NULL, *longname = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n;

        assert(dnsmasq_leases_parse("", &empty, &n) == 0);
        assert(n == 0);

        assert(dnsmasq_leases_parse("\n\n \t\n\x01\x02\xff\n", &junk, &n) == 0);
        assert(n == 0);

        /* A hostname longer than the field is cut, not overflowed. */
        assert(asprintf(&text, "1 00:1a:11:e1:cf:00 192.168.98.2 %0200d *\n", 7) >= 0);
        assert(dnsmasq_leases_parse(text, &longname, &n) == 0);
        assert(n == 1);
        assert(strlen(longname[0].hostname) == sizeof(longname[0].hostname) - 1);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "config_ethernet", test_config_ethernet },
                { "config_wifi", test_config_wifi },
                { "config_no_ping", test_config_no_ping },
                { "config_ipv6", test_config_ipv6 },
                { "config_dns", test_config_dns },
                { "config_unmanaged", test_config_unmanaged },
                { "paths", test_paths },
                { "leases", test_leases },
                { "leases_edge", test_leases_edge },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - dnsmasq: %s\n", i + 1, tests[i].name);
                fflush(stdout); /* an assert() later aborts without flushing */
        }
        return EXIT_SUCCESS;
}
