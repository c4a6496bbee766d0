/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The slot plan, row by row against REFERENCE.md §2 "Devices and addresses". */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/plan.h"
#include "common/macro.h"
#include "common/strv.h"

static const TapKind all_kinds[] = { TAP_ETHERNET, TAP_WIFI, TAP_MOBILE, TAP_WIFIAP };

static struct in_addr addr(const char *s) {
        struct in_addr a;

        assert(inet_pton(AF_INET, s, &a) == 1);
        return a;
}

static void assert_ipv4(struct in_addr a, const char *expected) {
        char s[INET_ADDRSTRLEN];

        ipv4_to_string(a, s);
        if (!streq(s, expected)) {
                fprintf(stderr, "expected %s, got %s\n", expected, s);
                assert(streq(s, expected));
        }
}

/* "a.b.c.<x>" for the last octet x; the arithmetic the reference writes as 4i-3 etc. */
static void assert_ipv4_octet(struct in_addr a, const char *first3, unsigned x) {
        char expected[INET_ADDRSTRLEN];

        assert(x <= 255);
        (void) snprintf(expected, sizeof(expected), "%s.%u", first3, x);
        assert_ipv4(a, expected);
}

/* expected: "NETWORK GATEWAY GUEST BROADCAST", a row of the reference's /30 arithmetic. */
static void assert_slash30(const NetConfig *c, unsigned slot, TapKind kind, const char *expected) {
        char n[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], h[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], s[64];
        Ipv4Slash30 a;

        assert(slot_has_tap(c, slot, kind));
        assert(slot_tap_ipv4(c, slot, kind, &a) == 0);
        ipv4_to_string(a.network, n);
        ipv4_to_string(a.gateway, g);
        ipv4_to_string(a.guest, h);
        ipv4_to_string(a.broadcast, b);
        (void) snprintf(s, sizeof(s), "%s %s %s %s", n, g, h, b);
        if (!streq(s, expected)) {
                fprintf(stderr, "slot %u: expected %s, got %s\n", slot, expected, s);
                assert(streq(s, expected));
        }
}

static void assert_mac(unsigned slot, TapKind kind, const char *expected) {
        uint8_t mac[6];
        char s[18];

        assert(slot_guest_mac(slot, kind, mac) == 0);
        mac_to_string(mac, s);
        if (!streq(s, expected)) {
                fprintf(stderr, "slot %u: expected %s, got %s\n", slot, expected, s);
                assert(streq(s, expected));
        }
}

static bool strv_contains(char **l, const char *s) {
        STRV_FOREACH (i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

static void test_defaults(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        assert(c.n_slots == 10);
        assert(!c.bridge_interface);
        assert(c.ipv4_bridge && c.ipv6_bridge);
        assert(c.n_dns_servers == 2);
        assert_ipv4(c.dns_servers[0], "8.8.8.8");
        assert_ipv4(c.dns_servers[1], "8.8.4.4");
        assert(c.n_dns6_servers == 2);
        assert(!c.ethernet_ipv6_prefix && !c.wifi_ipv6_prefix);
        assert(c.n_mobile_pools == 2);
        assert_ipv4(c.mobile_pools[0], "192.168.97.0");
        assert_ipv4(c.mobile_pools[1], "192.168.93.0");
        assert(c.n_wifiap_pools == 2);
        assert_ipv4(c.wifiap_pools[0], "192.168.94.0");
        assert_ipv4(c.wifiap_pools[1], "192.168.95.0");
        assert(c.firewall == FIREWALL_NFTABLES);
        net_config_done(&c);
        /* done is idempotent */
        net_config_done(&c);
}

static void test_tap_names(void) {
        char name[IFNAMSIZ];

        assert(slot_tap_name(1, TAP_ETHERNET, name) == 0 && streq(name, "cvd-etap-01"));
        assert(slot_tap_name(2, TAP_WIFI, name) == 0 && streq(name, "cvd-wtap-02"));
        assert(slot_tap_name(9, TAP_MOBILE, name) == 0 && streq(name, "cvd-mtap-09"));
        assert(slot_tap_name(10, TAP_WIFIAP, name) == 0 && streq(name, "cvd-wifiap-10"));
        assert(slot_tap_name(99, TAP_ETHERNET, name) == 0 && streq(name, "cvd-etap-99"));
        /* Three digits past 99. */
        assert(slot_tap_name(100, TAP_ETHERNET, name) == 0 && streq(name, "cvd-etap-100"));
        assert(slot_tap_name(128, TAP_MOBILE, name) == 0 && streq(name, "cvd-mtap-128"));
        /* The longest name still fits IFNAMSIZ with its NUL. */
        assert(slot_tap_name(253, TAP_WIFIAP, name) == 0 && streq(name, "cvd-wifiap-253"));
        assert(strlen(name) < IFNAMSIZ);

        assert(slot_tap_name(0, TAP_ETHERNET, name) == -EINVAL);
        assert(slot_tap_name(254, TAP_ETHERNET, name) == -EINVAL);
        assert(slot_tap_name(1, _TAP_KIND_MAX, name) == -EINVAL);
        assert(slot_tap_name(1, _TAP_KIND_INVALID, name) == -EINVAL);
}

static void test_parse_tap_name(void) {
        static const char *const garbage[] = {
                "cvd-etap-1",   "cvd-etap-001",  "cvd-foo-01",
                "cvd-etap-254", "eth0",          "",
                "cvd-etap-00",  "cvd-etap-0100", "cvd-etap-",
                "cvd-etap",     "cvd-ebr",       "cvd-wbr",
                "cvd-etap-01x", "cvd-etap-+1",   "cvd-etap- 1",
                "cvd-etap--1",  "cvd-etap-1000", "CVD-etap-01",
                "xcvd-etap-01", "cvd--01",       "cvd-etap-01 ",
                "cvd-pi-mtap1", "cvd-mtap-0x1",  "cvd-etap-99999999999",
        };
        unsigned slot;
        TapKind kind;

        /* Every name we print parses back to its slot and kind. */
        for (unsigned s = 1; s <= NET_SLOTS_MAX; s++)
                for (size_t k = 0; k < ELEMENTSOF(all_kinds); k++) {
                        char name[IFNAMSIZ];

                        assert(slot_tap_name(s, all_kinds[k], name) == 0);
                        slot = 0;
                        kind = _TAP_KIND_INVALID;
                        assert(slot_parse_tap_name(name, &slot, &kind) == 1);
                        assert(slot == s);
                        assert(kind == all_kinds[k]);
                }

        /* NULL outputs are allowed. */
        assert(slot_parse_tap_name("cvd-wifiap-07", NULL, NULL) == 1);
        assert(slot_parse_tap_name(NULL, &slot, &kind) == 0);

        for (size_t i = 0; i < ELEMENTSOF(garbage); i++) {
                slot = 4242;
                kind = TAP_WIFIAP;
                if (slot_parse_tap_name(garbage[i], &slot, &kind) != 0) {
                        fprintf(stderr, "accepted '%s'\n", garbage[i]);
                        assert(false);
                }
                /* Outputs untouched on mismatch. */
                assert(slot == 4242 && kind == TAP_WIFIAP);
        }
}

static void test_has_tap_default(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        for (unsigned s = 1; s <= 10; s++)
                for (size_t k = 0; k < ELEMENTSOF(all_kinds); k++)
                        assert(slot_has_tap(&c, s, all_kinds[k]));
        /* Past n_slots and slot 0: nothing. */
        for (size_t k = 0; k < ELEMENTSOF(all_kinds); k++) {
                assert(!slot_has_tap(&c, 0, all_kinds[k]));
                assert(!slot_has_tap(&c, 11, all_kinds[k]));
        }
        assert(!slot_has_tap(&c, 1, _TAP_KIND_MAX));
        net_config_done(&c);
}

/* Rows "cvd-mtap-%02d (i ≤ 64)", "(65 ≤ i ≤ 128)", and the same for cvd-wifiap, for every i. */
static void test_slash30_all_rows(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 128;
        for (unsigned i = 1; i <= 128; i++) {
                unsigned j = i <= 64 ? i : i - 64;
                const char *mobile = i <= 64 ? "192.168.97" : "192.168.93";
                const char *wifiap = i <= 64 ? "192.168.94" : "192.168.95";
                Ipv4Slash30 m, w;

                assert(slot_tap_ipv4(&c, i, TAP_MOBILE, &m) == 0);
                assert_ipv4_octet(m.network, mobile, 4 * j - 4);
                assert_ipv4_octet(m.gateway, mobile, 4 * j - 3);
                assert_ipv4_octet(m.guest, mobile, 4 * j - 2);
                assert_ipv4_octet(m.broadcast, mobile, 4 * j - 1);

                assert(slot_tap_ipv4(&c, i, TAP_WIFIAP, &w) == 0);
                assert_ipv4_octet(w.network, wifiap, 4 * j - 4);
                assert_ipv4_octet(w.gateway, wifiap, 4 * j - 3);
                assert_ipv4_octet(w.guest, wifiap, 4 * j - 2);
                assert_ipv4_octet(w.broadcast, wifiap, 4 * j - 1);

                /* assemble_cvd rejects gateway == broadcast. */
                assert(m.gateway.s_addr != m.broadcast.s_addr);
        }

        /* etap/wtap carry no address: they get theirs via the bridge's DHCP. */
        Ipv4Slash30 a;
        assert(slot_tap_ipv4(&c, 1, TAP_ETHERNET, &a) == -ENOENT);
        assert(slot_tap_ipv4(&c, 1, TAP_WIFI, &a) == -ENOENT);
        assert(slot_tap_ipv4(&c, 0, TAP_MOBILE, &a) == -ENOENT);
        assert(slot_tap_ipv4(&c, 129, TAP_MOBILE, &a) == -ENOENT);
        net_config_done(&c);
}

/* The same rows spelled out, so a mistake in the loop above cannot hide one in the plan. */
static void test_slash30_examples(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 128;
        assert_slash30(&c, 1, TAP_MOBILE, "192.168.97.0 192.168.97.1 192.168.97.2 192.168.97.3");
        assert_slash30(&c, 2, TAP_MOBILE, "192.168.97.4 192.168.97.5 192.168.97.6 192.168.97.7");
        assert_slash30(&c, 10, TAP_MOBILE, "192.168.97.36 192.168.97.37 192.168.97.38 192.168.97.39");
        assert_slash30(&c, 64, TAP_MOBILE, "192.168.97.252 192.168.97.253 192.168.97.254 192.168.97.255");
        assert_slash30(&c, 65, TAP_MOBILE, "192.168.93.0 192.168.93.1 192.168.93.2 192.168.93.3");
        assert_slash30(&c, 66, TAP_MOBILE, "192.168.93.4 192.168.93.5 192.168.93.6 192.168.93.7");
        assert_slash30(&c, 128, TAP_MOBILE, "192.168.93.252 192.168.93.253 192.168.93.254 192.168.93.255");

        assert_slash30(&c, 1, TAP_WIFIAP, "192.168.94.0 192.168.94.1 192.168.94.2 192.168.94.3");
        assert_slash30(&c, 2, TAP_WIFIAP, "192.168.94.4 192.168.94.5 192.168.94.6 192.168.94.7");
        assert_slash30(&c, 64, TAP_WIFIAP, "192.168.94.252 192.168.94.253 192.168.94.254 192.168.94.255");
        assert_slash30(&c, 65, TAP_WIFIAP, "192.168.95.0 192.168.95.1 192.168.95.2 192.168.95.3");
        assert_slash30(&c, 128, TAP_WIFIAP, "192.168.95.252 192.168.95.253 192.168.95.254 192.168.95.255");
        net_config_done(&c);
}

/* "For i > 128 only etap/wtap are created (no mtap/wifiap)." */
static void test_past_128_default_pools(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = NET_SLOTS_MAX;
        for (unsigned i = 129; i <= NET_SLOTS_MAX; i++) {
                Ipv4Slash30 a;

                assert(slot_has_tap(&c, i, TAP_ETHERNET));
                assert(slot_has_tap(&c, i, TAP_WIFI));
                assert(!slot_has_tap(&c, i, TAP_MOBILE));
                assert(!slot_has_tap(&c, i, TAP_WIFIAP));
                assert(slot_tap_ipv4(&c, i, TAP_MOBILE, &a) == -ENOENT);
                assert(slot_tap_ipv4(&c, i, TAP_WIFIAP, &a) == -ENOENT);
        }
        assert(slot_has_tap(&c, 128, TAP_MOBILE));
        assert(slot_has_tap(&c, 128, TAP_WIFIAP));
        net_config_done(&c);
}

/* With four pools each, slots 129..253 use pools 3 and 4 as configured. */
static void test_four_pools(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.mobile_pools[2] = addr("10.0.3.0");
        c.mobile_pools[3] = addr("10.0.4.0");
        c.n_mobile_pools = 4;
        c.wifiap_pools[2] = addr("172.16.3.0");
        c.wifiap_pools[3] = addr("172.16.4.0");
        c.n_wifiap_pools = 4;
        c.n_slots = NET_SLOTS_MAX;
        assert(net_config_slot_capacity(&c) == 253);

        for (unsigned i = 1; i <= NET_SLOTS_MAX; i++)
                for (size_t k = 0; k < ELEMENTSOF(all_kinds); k++)
                        assert(slot_has_tap(&c, i, all_kinds[k]));

        /* The first two pools are unchanged. */
        assert_slash30(&c, 64, TAP_MOBILE, "192.168.97.252 192.168.97.253 192.168.97.254 192.168.97.255");
        assert_slash30(&c, 65, TAP_MOBILE, "192.168.93.0 192.168.93.1 192.168.93.2 192.168.93.3");
        assert_slash30(&c, 128, TAP_WIFIAP, "192.168.95.252 192.168.95.253 192.168.95.254 192.168.95.255");

        assert_slash30(&c, 129, TAP_MOBILE, "10.0.3.0 10.0.3.1 10.0.3.2 10.0.3.3");
        assert_slash30(&c, 130, TAP_MOBILE, "10.0.3.4 10.0.3.5 10.0.3.6 10.0.3.7");
        assert_slash30(&c, 192, TAP_MOBILE, "10.0.3.252 10.0.3.253 10.0.3.254 10.0.3.255");
        assert_slash30(&c, 193, TAP_MOBILE, "10.0.4.0 10.0.4.1 10.0.4.2 10.0.4.3");
        /* 253 = 192 + 61: the 61st /30 of the fourth pool. */
        assert_slash30(&c, 253, TAP_MOBILE, "10.0.4.240 10.0.4.241 10.0.4.242 10.0.4.243");
        assert_slash30(&c, 129, TAP_WIFIAP, "172.16.3.0 172.16.3.1 172.16.3.2 172.16.3.3");
        assert_slash30(&c, 193, TAP_WIFIAP, "172.16.4.0 172.16.4.1 172.16.4.2 172.16.4.3");
        assert_slash30(&c, 253, TAP_WIFIAP, "172.16.4.240 172.16.4.241 172.16.4.242 172.16.4.243");

        /* Uneven pools: mobile reaches slot 192, wifiap 253; each kind follows its own list. */
        c.n_mobile_pools = 3;
        assert(net_config_slot_capacity(&c) == 192);
        assert(slot_has_tap(&c, 192, TAP_MOBILE));
        assert(!slot_has_tap(&c, 193, TAP_MOBILE));
        assert(slot_has_tap(&c, 193, TAP_WIFIAP));
        net_config_done(&c);
}

static void test_guest_macs(void) {
        uint8_t mac[6];

        assert_mac(1, TAP_MOBILE, "00:1a:11:e0:cf:00");
        assert_mac(1, TAP_ETHERNET, "00:1a:11:e1:cf:00");
        assert_mac(1, TAP_WIFI, "00:1a:11:e2:cf:00");
        assert_mac(3, TAP_ETHERNET, "00:1a:11:e1:cf:02");
        assert_mac(10, TAP_MOBILE, "00:1a:11:e0:cf:09");
        assert_mac(11, TAP_WIFI, "00:1a:11:e2:cf:0a");
        assert_mac(17, TAP_ETHERNET, "00:1a:11:e1:cf:10");
        assert_mac(128, TAP_WIFI, "00:1a:11:e2:cf:7f");
        assert_mac(250, TAP_MOBILE, "00:1a:11:e0:cf:f9");
        assert_mac(250, TAP_ETHERNET, "00:1a:11:e1:cf:f9");
        assert_mac(250, TAP_WIFI, "00:1a:11:e2:cf:f9");
        assert_mac(253, TAP_ETHERNET, "00:1a:11:e1:cf:fc");

        /* Distinct per slot and kind. */
        for (unsigned s = 1; s <= NET_SLOTS_MAX; s++) {
                uint8_t e[6], w[6], m[6];

                assert(slot_guest_mac(s, TAP_ETHERNET, e) == 0);
                assert(slot_guest_mac(s, TAP_WIFI, w) == 0);
                assert(slot_guest_mac(s, TAP_MOBILE, m) == 0);
                assert(e[5] == s - 1 && w[5] == s - 1 && m[5] == s - 1);
                assert(memcmp(e, w, 6) != 0 && memcmp(e, m, 6) != 0 && memcmp(w, m, 6) != 0);
        }

        /* The wifiap uplink's MAC is OpenWRT's business, not Cuttlefish's launcher's. */
        assert(slot_guest_mac(1, TAP_WIFIAP, mac) == -ENOENT);
        assert(slot_guest_mac(0, TAP_ETHERNET, mac) == -EINVAL);
}

static void test_vsock_cid(void) {
        assert(slot_vsock_cid(1) == 3);
        assert(slot_vsock_cid(2) == 4);
        assert(slot_vsock_cid(10) == 12);
        assert(slot_vsock_cid(128) == 130);
        assert(slot_vsock_cid(253) == 255);
}

/* Rows cvd-ebr and cvd-wbr; cvd-etap/cvd-wtap hang on them. */
static void test_bridges_managed(void) {
        BridgePlan b[NET_BRIDGES];
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        net_config_bridges(&c, b);

        assert(streq(b[0].name, "cvd-ebr"));
        assert(b[0].managed);
        assert_ipv4(b[0].address, "192.168.98.1");
        assert_ipv4(b[0].dhcp_first, "192.168.98.2");
        assert_ipv4(b[0].dhcp_last, "192.168.98.255");
        assert(!b[0].ipv6_prefix);

        assert(streq(b[1].name, "cvd-wbr"));
        assert(b[1].managed);
        assert_ipv4(b[1].address, "192.168.96.1");
        assert_ipv4(b[1].dhcp_first, "192.168.96.2");
        assert_ipv4(b[1].dhcp_last, "192.168.96.255");
        assert(!b[1].ipv6_prefix);

        assert(tap_kind_bridge(TAP_ETHERNET) == 0);
        assert(tap_kind_bridge(TAP_WIFI) == 1);
        assert(tap_kind_bridge(TAP_MOBILE) == -1);
        assert(tap_kind_bridge(TAP_WIFIAP) == -1);
        assert(tap_kind_bridge(_TAP_KIND_INVALID) == -1);

        /* The IPv6 prefixes go to their own bridge. */
        c.ethernet_ipv6_prefix = strdup("2001:db8:e::");
        c.ethernet_ipv6_prefix_length = 64;
        c.wifi_ipv6_prefix = strdup("2001:db8:f::");
        c.wifi_ipv6_prefix_length = 48;
        assert(c.ethernet_ipv6_prefix && c.wifi_ipv6_prefix);
        net_config_bridges(&c, b);
        assert(streq(b[0].ipv6_prefix, "2001:db8:e::") && b[0].ipv6_prefix_length == 64);
        assert(streq(b[1].ipv6_prefix, "2001:db8:f::") && b[1].ipv6_prefix_length == 48);
        net_config_done(&c);
}

/* bridge_interface: both kinds on that bridge; no address, no DHCP, not ours to remove. */
static void test_bridges_interface(void) {
        BridgePlan b[NET_BRIDGES];
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.bridge_interface = strdup("br-lan");
        assert(c.bridge_interface);
        c.ethernet_ipv6_prefix = strdup("2001:db8:e::");
        c.ethernet_ipv6_prefix_length = 64;
        net_config_bridges(&c, b);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                assert(streq(b[i].name, "br-lan"));
                assert(!b[i].managed);
                assert(b[i].address.s_addr == 0);
                assert(!b[i].ipv6_prefix);
        }
        net_config_done(&c);
}

static void test_nat_sources(void) {
        static const char *const expected[] = {
                "192.168.98.0/24", "192.168.96.0/24", "192.168.97.0/30",
                "192.168.94.0/30", "192.168.97.4/30", "192.168.94.4/30",
        };
        _cleanup_(strv_freep) char **l = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 2;
        assert(net_config_nat_sources(&c, &l) == 0);
        assert(strv_length(l) == ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert(strv_contains(l, expected[i]));
        l = strv_free(l);

        /* 2 bridges + 2 per slot up to 128, none past it with the default pools. */
        c.n_slots = 10;
        assert(net_config_nat_sources(&c, &l) == 0);
        assert(strv_length(l) == 2 + 2 * 10);
        l = strv_free(l);
        c.n_slots = 200;
        assert(net_config_nat_sources(&c, &l) == 0);
        assert(strv_length(l) == 2 + 2 * 128);
        assert(strv_contains(l, "192.168.93.252/30"));
        assert(strv_contains(l, "192.168.95.252/30"));
        l = strv_free(l);

        /* bridge_interface: no bridge NAT, the /30s stay. */
        c.n_slots = 2;
        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        assert(net_config_nat_sources(&c, &l) == 0);
        assert(strv_length(l) == 4);
        assert(!strv_contains(l, "192.168.98.0/24"));
        assert(!strv_contains(l, "192.168.96.0/24"));
        assert(strv_contains(l, "192.168.97.4/30"));
        assert(strv_contains(l, "192.168.94.4/30"));
        net_config_done(&c);
}

static void test_capacity(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        assert(net_config_slot_capacity(&c) == 128);
        c.n_mobile_pools = 1;
        assert(net_config_slot_capacity(&c) == 64);
        c.n_mobile_pools = 3;
        c.n_wifiap_pools = 3;
        assert(net_config_slot_capacity(&c) == 192);
        c.n_mobile_pools = 4;
        c.n_wifiap_pools = 4;
        assert(net_config_slot_capacity(&c) == 253);
        c.n_mobile_pools = NET_POOLS_MAX;
        c.n_wifiap_pools = NET_POOLS_MAX;
        assert(net_config_slot_capacity(&c) == NET_SLOTS_MAX);
        net_config_done(&c);
}

static void test_copy(void) {
        NetConfig a, b;

        assert(net_config_init_defaults(&a) == 0);
        a.bridge_interface = strdup("br0");
        a.wifi_ipv6_prefix = strdup("2001:db8::");
        a.n_slots = 77;
        assert(a.bridge_interface && a.wifi_ipv6_prefix);
        assert(net_config_copy(&a, &b) == 0);
        assert(b.n_slots == 77);
        assert(b.bridge_interface != a.bridge_interface && streq(b.bridge_interface, "br0"));
        assert(b.wifi_ipv6_prefix != a.wifi_ipv6_prefix && streq(b.wifi_ipv6_prefix, "2001:db8::"));
        assert(!b.ethernet_ipv6_prefix);
        assert(b.dnsmasq_user != a.dnsmasq_user && streq(b.dnsmasq_user, "nobody"));
        net_config_done(&a);
        assert(streq(b.bridge_interface, "br0"));
        net_config_done(&b);
}

static void test_strings(void) {
        for (size_t k = 0; k < ELEMENTSOF(all_kinds); k++)
                assert(tap_kind_from_string(tap_kind_to_string(all_kinds[k])) == all_kinds[k]);
        assert(streq(tap_kind_to_string(TAP_WIFIAP), "wifiap"));
        assert(!tap_kind_to_string(_TAP_KIND_MAX));
        assert(tap_kind_from_string("foo") == _TAP_KIND_INVALID);
        assert(tap_kind_from_string(NULL) == _TAP_KIND_INVALID);
        assert(firewall_mode_from_string("nftables") == FIREWALL_NFTABLES);
        assert(firewall_mode_from_string("none") == FIREWALL_NONE);
        assert(firewall_mode_from_string("iptables") == _FIREWALL_INVALID);
        assert(streq(firewall_mode_to_string(FIREWALL_NONE), "none"));
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "defaults", test_defaults },
                { "tap_names", test_tap_names },
                { "parse_tap_name", test_parse_tap_name },
                { "has_tap_default", test_has_tap_default },
                { "slash30_all_rows", test_slash30_all_rows },
                { "slash30_examples", test_slash30_examples },
                { "past_128_default_pools", test_past_128_default_pools },
                { "four_pools", test_four_pools },
                { "guest_macs", test_guest_macs },
                { "vsock_cid", test_vsock_cid },
                { "bridges_managed", test_bridges_managed },
                { "bridges_interface", test_bridges_interface },
                { "nat_sources", test_nat_sources },
                { "capacity", test_capacity },
                { "copy", test_copy },
                { "strings", test_strings },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - plan: %s\n", i + 1, tests[i].name);
                fflush(stdout); /* an assert() later aborts without flushing */
        }
        return EXIT_SUCCESS;
}
