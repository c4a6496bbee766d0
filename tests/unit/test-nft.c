/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nftables script: NAT sources of REFERENCE.md §2, and the bridge table only where the
 * reference adds broute rules (bridge_interface with ipv4_bridge=0 or ipv6_bridge=0). */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/nft.h"
#include "common/macro.h"

#define REPLACE_INET "add table inet " NET_TABLE_NAME "\ndelete table inet " NET_TABLE_NAME "\n"
#define BRIDGE_TABLE "\ntable bridge " NET_TABLE_NAME " {\n"

static void assert_has(const char *text, const char *needle, bool expected) {
        if (!!strstr(text, needle) != expected) {
                fprintf(stderr, "expected%s '%s' in:\n%s\n", expected ? "" : " no", needle, text);
                assert(!!strstr(text, needle) == expected);
        }
}

static size_t count(const char *text, const char *needle) {
        size_t n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *build(const NetConfig *c, bool broute) {
        char *text = NULL;

        assert(nft_build_ruleset(c, broute, &text) == 0);
        assert(text);
        return text;
}

static void test_default(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 2;
        text = build(&c, true);

        /* Replaces our tables in one transaction and touches no other. */
        assert(strncmp(text, REPLACE_INET, strlen(REPLACE_INET)) == 0);
        assert_has(text, "\ntable inet " NET_TABLE_NAME " {\n", true);
        assert(count(text, "table ") == count(text, NET_TABLE_NAME));

        /* N=2: both bridge /24s and four /30s, masqueraded by source only (no oifname). */
        assert_has(text,
                   "elements = { 192.168.98.0/24, 192.168.96.0/24, 192.168.97.0/30, 192.168.94.0/30, "
                   "192.168.97.4/30, 192.168.94.4/30 }",
                   true);
        assert_has(text, "type nat hook postrouting", true);
        assert_has(text, "ip saddr @nat_sources counter masquerade", true);
        assert(count(text, "masquerade") == 1);
        assert_has(text, "oifname", false);
        assert_has(text, "ip6", false);
        assert_has(text, "192.168.97.8/30", false);

        /* No bridge table without bridge_interface. */
        assert_has(text, BRIDGE_TABLE, false);
        assert_has(text, "broute", false);
        net_config_done(&c);
}

static void test_many_slots(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 200;
        text = build(&c, true);
        /* /30s for slots 1..128 only with the default pools. */
        assert(count(text, "/30") == 2 * 128);
        assert(count(text, "/24") == 2);
        assert_has(text, "192.168.93.252/30", true);
        assert_has(text, "192.168.95.252/30", true);
        net_config_done(&c);
}

static void test_bridge_interface_ipv4(void) {
        _cleanup_free_ char *text = NULL, *fallback = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 2;
        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        c.ipv4_bridge = false;
        text = build(&c, true);

        /* No bridge NAT: the bridge is not ours. */
        assert_has(text,
                   "elements = { 192.168.97.0/30, 192.168.94.0/30, 192.168.97.4/30, 192.168.94.4/30 }",
                   true);
        assert_has(text, "/24", false);
        assert_has(text, "masquerade", true);

        assert_has(text, BRIDGE_TABLE, true);
        assert_has(text, "type filter hook prerouting priority -250", true);
        assert_has(text, "type filter hook forward priority 0", true);
        assert_has(text,
                   "iifname { \"cvd-etap-01\", \"cvd-etap-02\" } ether type ip meta broute set 1 accept",
                   true);
        assert_has(text,
                   "iifname { \"cvd-wtap-01\", \"cvd-wtap-02\" } ether type ip meta broute set 1 accept",
                   true);
        assert_has(text, "oifname { \"cvd-etap-01\", \"cvd-etap-02\" } ether type ip drop", true);
        assert_has(text, "oifname { \"cvd-wtap-01\", \"cvd-wtap-02\" } ether type ip drop", true);
        /* mtap/wifiap are not bridge ports. */
        assert_has(text, "cvd-mtap", false);
        assert_has(text, "cvd-wifiap", false);
        /* ipv6_bridge=1: IPv6 stays bridged. */
        assert_has(text, "ether type ip6", false);

        /* Without "meta broute" (nftables < 1.0.7) the same taps drop instead. */
        fallback = build(&c, false);
        assert_has(fallback, BRIDGE_TABLE, true);
        assert_has(fallback, "broute", false);
        assert_has(fallback, "iifname { \"cvd-etap-01\", \"cvd-etap-02\" } ether type ip drop", true);
        assert_has(fallback, "oifname { \"cvd-wtap-01\", \"cvd-wtap-02\" } ether type ip drop", true);
        net_config_done(&c);
}

static void test_bridge_interface_ipv6(void) {
        _cleanup_free_ char *text = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 1;
        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        c.ipv6_bridge = false;
        text = build(&c, true);

        /* ipv6_bridge is its own knob (the reference's typo copied ipv4_bridge into it). */
        assert_has(text, BRIDGE_TABLE, true);
        assert_has(text, "iifname { \"cvd-etap-01\" } ether type ip6 meta broute set 1 accept", true);
        assert_has(text, "oifname { \"cvd-wtap-01\" } ether type ip6 drop", true);
        assert_has(text, "ether type ip ", false);
        net_config_done(&c);
}

static void test_bridge_interface_both_bridged(void) {
        _cleanup_free_ char *text = NULL, *managed = NULL;
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 2;
        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        text = build(&c, true);
        assert_has(text, BRIDGE_TABLE, false);
        assert_has(text, "masquerade", true);

        /* ipv4_bridge=0 means nothing for managed bridges. */
        c.bridge_interface = mfree(c.bridge_interface);
        c.ipv4_bridge = c.ipv6_bridge = false;
        managed = build(&c, true);
        assert_has(managed, BRIDGE_TABLE, false);
        net_config_done(&c);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "default", test_default },
                { "many_slots", test_many_slots },
                { "bridge_interface_ipv4", test_bridge_interface_ipv4 },
                { "bridge_interface_ipv6", test_bridge_interface_ipv6 },
                { "bridge_interface_both_bridged", test_bridge_interface_both_bridged },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - nft: %s\n", i + 1, tests[i].name);
                fflush(stdout); /* an assert() later aborts without flushing */
        }
        return EXIT_SUCCESS;
}
