/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DescribeNetwork()'s JSON from input structs alone (daemon/network-describe.c): every key and
 * value for a network that is up, degraded by a foreign link, down with no link dump and no
 * leases, failed, and on an operator's bridge. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "daemon/network-describe.h"

/* The value at a path like "bridges/0/dnsmasq/pid"; *found says whether the key exists (its value
 * may be null). */
static struct json_object *jget(struct json_object *o, const char *path, bool *found) {
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;

        assert(copy);
        *found = true;
        for (char *k = strtok_r(copy, "/", &save); k; k = strtok_r(NULL, "/", &save)) {
                if (json_object_is_type(o, json_type_array)) {
                        size_t i = strtoul(k, NULL, 10);

                        if (i >= json_object_array_length(o)) {
                                *found = false;
                                return NULL;
                        }
                        o = json_object_array_get_idx(o, i);
                } else if (!json_object_is_type(o, json_type_object) ||
                           !json_object_object_get_ex(o, k, &o)) {
                        *found = false;
                        return NULL;
                }
        }
        return o;
}

static struct json_object *jmust(struct json_object *o, const char *path) {
        bool found;
        struct json_object *v = jget(o, path, &found);

        if (!found) {
                fprintf(stderr, "no key %s in %s\n", path, json_object_to_json_string(o));
                assert(found);
        }
        return v;
}

static void expect_str(struct json_object *o, const char *path, const char *want) {
        struct json_object *v = jmust(o, path);

        if (!json_object_is_type(v, json_type_string) || !streq(json_object_get_string(v), want)) {
                fprintf(stderr, "%s: expected \"%s\", got %s\n", path, want, json_object_to_json_string(v));
                assert(false);
        }
}

static void expect_int(struct json_object *o, const char *path, int64_t want) {
        struct json_object *v = jmust(o, path);

        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != want) {
                fprintf(stderr,
                        "%s: expected %lld, got %s\n",
                        path,
                        (long long) want,
                        json_object_to_json_string(v));
                assert(false);
        }
}

static void expect_bool(struct json_object *o, const char *path, bool want) {
        struct json_object *v = jmust(o, path);

        if (!json_object_is_type(v, json_type_boolean) || json_object_get_boolean(v) != want) {
                fprintf(stderr,
                        "%s: expected %s, got %s\n",
                        path,
                        want ? "true" : "false",
                        json_object_to_json_string(v));
                assert(false);
        }
}

static void expect_null(struct json_object *o, const char *path) {
        struct json_object *v = jmust(o, path);

        if (v) {
                fprintf(stderr, "%s: expected null, got %s\n", path, json_object_to_json_string(v));
                assert(false);
        }
}

static void expect_absent(struct json_object *o, const char *path) {
        bool found;

        (void) jget(o, path, &found);
        if (found) {
                fprintf(stderr, "%s: expected no such key in %s\n", path, json_object_to_json_string(o));
                assert(false);
        }
}

static void expect_len(struct json_object *o, const char *path, size_t want) {
        struct json_object *v = jmust(o, path);

        assert(json_object_is_type(v, json_type_array));
        if (json_object_array_length(v) != want) {
                fprintf(stderr,
                        "%s: expected %zu elements, got %s\n",
                        path,
                        want,
                        json_object_to_json_string(v));
                assert(false);
        }
}

static struct json_object *build(const NetworkDescribeInput *in) {
        struct json_object *o = NULL;

        assert(network_describe_build(in, &o) == 0);
        assert(o);
        return o;
}

static NetConfig one_slot(void) {
        NetConfig c;

        assert(net_config_init_defaults(&c) == 0);
        c.n_slots = 1;
        return c;
}

/* What the kernel has when slot 1 is fully set up: ifindex 2 cvd-ebr, 3 cvd-wbr, then the taps. */
static const LinkInfo links_up[] = {
        { .name = "lo", .kind = "", .ifindex = 1, .flags = IFF_UP },
        { .name = "cvd-ebr", .kind = "bridge", .ifindex = 2, .group = NET_NETDEV_GROUP, .flags = IFF_UP },
        { .name = "cvd-wbr", .kind = "bridge", .ifindex = 3, .group = NET_NETDEV_GROUP, .flags = IFF_UP },
        { .name = "cvd-etap-01",
          .kind = "tun",
          .ifindex = 4,
          .master = 2,
          .group = NET_NETDEV_GROUP,
          .flags = IFF_UP },
        { .name = "cvd-wtap-01",
          .kind = "tun",
          .ifindex = 5,
          .master = 3,
          .group = NET_NETDEV_GROUP,
          .flags = IFF_UP },
        { .name = "cvd-mtap-01", .kind = "tun", .ifindex = 6, .group = NET_NETDEV_GROUP, .flags = IFF_UP },
        /* Down: present, not up. */
        { .name = "cvd-wifiap-01", .kind = "tun", .ifindex = 7, .group = NET_NETDEV_GROUP },
};

/* slot 1's ethernet MAC, and a guest that is not ours */
static const DnsmasqLease leases_ebr[] = {
        { .expires = 1700000000,
          .mac = { 0x00, 0x1a, 0x11, 0xe1, 0xcf, 0x00 },
          .ip = "192.168.98.2",
          .hostname = "guest1" },
        { .expires = 0, .mac = { 0x02, 0, 0, 0, 0, 1 }, .ip = "192.168.98.9" },
};

static const LinkTable table_up = { .links = (LinkInfo *) links_up, .n_links = ELEMENTSOF(links_up) };

static struct json_object *build_up(const NetConfig *c) {
        NetworkDescribeInput in = {
                .state = NETWORK_UP,
                .config = c,
                .nft_table_present = true,
                .links = &table_up,
                .repairs = 2,
                .dnsmasq = {
                        { .pid = 1234, .restarts = 1, .config_file = "/run/x/dnsmasq-cvd-ebr.conf",
                          .lease_file = "/var/lib/x/dnsmasq-cvd-ebr.leases", .leases = leases_ebr, .n_leases = 2 },
                        { .pid = 1235, .config_file = "/run/x/dnsmasq-cvd-wbr.conf",
                          .lease_file = "/var/lib/x/dnsmasq-cvd-wbr.leases" },
                },
        };

        return build(&in);
}

static void test_up(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();

        o = build_up(&c);
        expect_str(o, "state", "up");
        expect_null(o, "error");
        expect_int(o, "slot_count", 1);
        expect_str(o, "firewall", "nftables");
        expect_str(o, "nft_table", "inet cuttlefish_host_resources");
        expect_bool(o, "nft_table_present", true);
        expect_int(o, "netdev_group", NET_NETDEV_GROUP);
        expect_int(o, "links", 6);
        expect_null(o, "bridge_interface");
        expect_null(o, "bridge_filter");
        expect_int(o, "repairs", 2);
        expect_len(o, "conflicts", 0);

        expect_len(o, "bridges", 2);
        expect_str(o, "bridges/0/name", "cvd-ebr");
        expect_bool(o, "bridges/0/managed", true);
        expect_bool(o, "bridges/0/present", true);
        expect_bool(o, "bridges/0/up", true);
        expect_str(o, "bridges/0/address", "192.168.98.1/24");
        expect_null(o, "bridges/0/ipv6_prefix");
        expect_bool(o, "bridges/0/dnsmasq/running", true);
        expect_int(o, "bridges/0/dnsmasq/pid", 1234);
        expect_int(o, "bridges/0/dnsmasq/restarts", 1);
        expect_str(o, "bridges/0/dnsmasq/config_file", "/run/x/dnsmasq-cvd-ebr.conf");
        expect_str(o, "bridges/0/dnsmasq/lease_file", "/var/lib/x/dnsmasq-cvd-ebr.leases");
        expect_int(o, "bridges/0/dnsmasq/leases", 2);
        expect_str(o, "bridges/1/name", "cvd-wbr");
        expect_str(o, "bridges/1/address", "192.168.96.1/24");
        expect_int(o, "bridges/1/dnsmasq/pid", 1235);
        expect_int(o, "bridges/1/dnsmasq/restarts", 0);
        expect_int(o, "bridges/1/dnsmasq/leases", 0);

        net_config_done(&c);
}

static void test_up_slots(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();

        o = build_up(&c);
        expect_len(o, "slots", 1);
        expect_int(o, "slots/0/number", 1);
        expect_int(o, "slots/0/vsock_cid", 3);
        expect_len(o, "slots/0/taps", 4);
        expect_str(o, "slots/0/taps/0/name", "cvd-etap-01");
        expect_str(o, "slots/0/taps/0/kind", "ethernet");
        expect_bool(o, "slots/0/taps/0/present", true);
        expect_bool(o, "slots/0/taps/0/up", true);
        expect_str(o, "slots/0/taps/0/bridge", "cvd-ebr");
        expect_str(o, "slots/0/taps/0/guest_mac", "00:1a:11:e1:cf:00");
        expect_absent(o, "slots/0/taps/0/address");
        expect_str(o, "slots/0/taps/0/lease/ip", "192.168.98.2");
        expect_str(o, "slots/0/taps/0/lease/hostname", "guest1");
        expect_int(o, "slots/0/taps/0/lease/expires", 1700000000);
        expect_str(o, "slots/0/taps/1/name", "cvd-wtap-01");
        expect_str(o, "slots/0/taps/1/kind", "wifi");
        expect_str(o, "slots/0/taps/1/bridge", "cvd-wbr");
        expect_str(o, "slots/0/taps/1/guest_mac", "00:1a:11:e2:cf:00");
        expect_null(o, "slots/0/taps/1/lease"); /* none in cvd-wbr's file */
        expect_str(o, "slots/0/taps/2/name", "cvd-mtap-01");
        expect_str(o, "slots/0/taps/2/kind", "mobile");
        expect_null(o, "slots/0/taps/2/bridge");
        expect_str(o, "slots/0/taps/2/guest_mac", "00:1a:11:e0:cf:00");
        expect_str(o, "slots/0/taps/2/address", "192.168.97.1/30");
        expect_str(o, "slots/0/taps/2/guest_address", "192.168.97.2");
        expect_absent(o, "slots/0/taps/2/lease"); /* on no bridge of ours: no DHCP */
        expect_str(o, "slots/0/taps/3/name", "cvd-wifiap-01");
        expect_str(o, "slots/0/taps/3/kind", "wifiap");
        expect_bool(o, "slots/0/taps/3/present", true);
        expect_bool(o, "slots/0/taps/3/up", false);
        expect_absent(o, "slots/0/taps/3/guest_mac");
        expect_str(o, "slots/0/taps/3/address", "192.168.94.1/30");
        expect_str(o, "slots/0/taps/3/guest_address", "192.168.94.2");
        net_config_done(&c);
}

static void test_degraded(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();
        /* A foreign bridge holds cvd-ebr; our cvd-wbr is there. */
        const LinkInfo links[] = {
                { .name = "cvd-ebr", .kind = "bridge", .ifindex = 2, .group = 0, .flags = IFF_UP },
                { .name = "cvd-wbr",
                  .kind = "bridge",
                  .ifindex = 3,
                  .group = NET_NETDEV_GROUP,
                  .flags = IFF_UP },
        };
        LinkTable t = { .links = (LinkInfo *) links, .n_links = ELEMENTSOF(links) };
        char *conflicts[] = {
                (char *) "cvd-ebr exists but was not created by this service (netdev group 0, kind bridge)",
                NULL
        };
        NetworkDescribeInput in = {
                .state = NETWORK_DEGRADED,
                .config = &c,
                .nft_table_present = true,
                .links = &t,
                .conflicts = conflicts,
                .dnsmasq = { { .config_file = "/run/x/dnsmasq-.conf" }, { .pid = 77 } },
        };

        o = build(&in);
        expect_str(o, "state", "degraded");
        expect_int(o, "links", 1);
        expect_len(o, "conflicts", 1);
        expect_str(o, "conflicts/0", conflicts[0]);
        expect_bool(o, "bridges/0/present", false); /* a conflict, not "present" */
        expect_bool(o, "bridges/0/up", true);
        expect_bool(o, "bridges/0/dnsmasq/running", false);
        expect_null(o, "bridges/0/dnsmasq/pid");
        expect_null(o, "bridges/0/dnsmasq/lease_file");
        expect_bool(o, "bridges/1/present", true);
        expect_bool(o, "bridges/1/dnsmasq/running", true);
        expect_bool(o, "slots/0/taps/0/present", false);
        expect_null(o, "slots/0/taps/0/bridge");
        expect_null(o, "slots/0/taps/0/lease");
        net_config_done(&c);
}

/* Down, the link dump failed, no lease file: the whole document, exactly. */
static void test_down(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();
        NetworkDescribeInput in = {
                .state = NETWORK_DOWN,
                .config = &c,
        };
        const char *want =
                        "{\"state\":\"down\",\"error\":null,\"slot_count\":1,\"firewall\":\"nftables\","
                        "\"nft_table\":\"inet cuttlefish_host_resources\",\"nft_table_present\":false,"
                        "\"netdev_group\":3312,\"links\":-1,\"bridge_interface\":null,\"bridge_filter\":null,"
                        "\"repairs\":0,\"conflicts\":[],"
                        "\"bridges\":["
                        "{\"name\":\"cvd-ebr\",\"managed\":true,\"present\":false,\"up\":false,"
                        "\"address\":\"192.168.98.1\\/24\",\"ipv6_prefix\":null,\"dnsmasq\":{\"running\":false,"
                        "\"pid\":null,\"restarts\":0,\"config_file\":null,\"lease_file\":null,\"leases\":0}},"
                        "{\"name\":\"cvd-wbr\",\"managed\":true,\"present\":false,\"up\":false,"
                        "\"address\":\"192.168.96.1\\/24\",\"ipv6_prefix\":null,\"dnsmasq\":{\"running\":false,"
                        "\"pid\":null,\"restarts\":0,\"config_file\":null,\"lease_file\":null,\"leases\":0}}],"
                        "\"slots\":[{\"number\":1,\"vsock_cid\":3,\"taps\":["
                        "{\"name\":\"cvd-etap-01\",\"kind\":\"ethernet\",\"present\":false,\"up\":false,\"bridge\":null,"
                        "\"guest_mac\":\"00:1a:11:e1:cf:00\",\"lease\":null},"
                        "{\"name\":\"cvd-wtap-01\",\"kind\":\"wifi\",\"present\":false,\"up\":false,\"bridge\":null,"
                        "\"guest_mac\":\"00:1a:11:e2:cf:00\",\"lease\":null},"
                        "{\"name\":\"cvd-mtap-01\",\"kind\":\"mobile\",\"present\":false,\"up\":false,\"bridge\":null,"
                        "\"guest_mac\":\"00:1a:11:e0:cf:00\",\"address\":\"192.168.97.1\\/30\","
                        "\"guest_address\":\"192.168.97.2\"},"
                        "{\"name\":\"cvd-wifiap-01\",\"kind\":\"wifiap\",\"present\":false,\"up\":false,\"bridge\":null,"
                        "\"address\":\"192.168.94.1\\/30\",\"guest_address\":\"192.168.94.2\"}]}]}";
        const char *got;

        o = build(&in);
        got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!streq(got, want)) {
                fprintf(stderr, "expected\n%s\ngot\n%s\n", want, got);
                assert(false);
        }
        net_config_done(&c);
}

static void test_failed(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();
        NetworkDescribeInput in = {
                .state = NETWORK_FAILED,
                .error = "dnsmasq could not be started",
                .config = &c,
        };

        c.firewall = FIREWALL_NONE;
        c.n_slots = 0;
        o = build(&in);
        expect_str(o, "state", "failed");
        expect_str(o, "error", "dnsmasq could not be started");
        expect_str(o, "firewall", "none");
        expect_int(o, "slot_count", 0);
        expect_len(o, "slots", 0);
        net_config_done(&c);
}

static void test_bridge_interface(void) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        NetConfig c = one_slot();
        const LinkInfo links[] = {
                { .name = "br0", .kind = "bridge", .ifindex = 2, .flags = IFF_UP },
                { .name = "cvd-etap-01",
                  .kind = "tun",
                  .ifindex = 4,
                  .master = 2,
                  .group = NET_NETDEV_GROUP,
                  .flags = IFF_UP },
        };
        LinkTable t = { .links = (LinkInfo *) links, .n_links = ELEMENTSOF(links) };
        NetworkDescribeInput in = {
                .state = NETWORK_UP,
                .config = &c,
                .links = &t,
                .bridge_filter_drop = true,
        };

        c.bridge_interface = strdup("br0");
        assert(c.bridge_interface);
        o = build(&in);
        expect_str(o, "bridge_interface", "br0");
        expect_null(o, "bridge_filter"); /* IPv4 and IPv6 both pass: nothing is filtered */
        expect_len(o, "bridges", 1);
        expect_str(o, "bridges/0/name", "br0");
        expect_bool(o, "bridges/0/managed", false);
        expect_bool(o, "bridges/0/present", true); /* not ours, and not a conflict: the operator's */
        expect_absent(o, "bridges/0/address");
        expect_absent(o, "bridges/0/dnsmasq");
        expect_str(o, "slots/0/taps/0/bridge", "br0");
        expect_absent(o, "slots/0/taps/0/lease"); /* no DHCP of ours on br0 */
        json_object_put(TAKE_PTR(o));

        c.ipv4_bridge = false;
        o = build(&in);
        expect_str(o, "bridge_filter", "drop");
        json_object_put(TAKE_PTR(o));
        in.bridge_filter_drop = false;
        o = build(&in);
        expect_str(o, "bridge_filter", "broute");
        net_config_done(&c);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "up", test_up },
                { "up_slots", test_up_slots },
                { "degraded", test_degraded },
                { "down", test_down },
                { "failed", test_failed },
                { "bridge_interface", test_bridge_interface },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - network-describe: %s\n", i + 1, tests[i].name);
                fflush(stdout); /* an assert() later aborts without flushing */
        }
        return EXIT_SUCCESS;
}
