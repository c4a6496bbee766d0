/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/json-util.h"
#include "common/macro.h"
#include "common/strv.h"
#include "daemon/network-describe.h"
#include "common/string-table.h"

static struct json_object *json_str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

/* The tap kinds as DescribeNetwork names them. */
static const char *const tap_kind_json_table[_TAP_KIND_MAX] = {
        [TAP_ETHERNET] = "ethernet",
        [TAP_WIFI] = "wifi",
        [TAP_MOBILE] = "mobile",
        [TAP_WIFIAP] = "wifiap",
};
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(tap_kind_json, TapKind);

static const LinkInfo *describe_find_link(const NetworkDescribeInput *in, const char *name) {
        return in->links ? link_table_find(in->links, name) : NULL;
}

static const DnsmasqLease *lease_find(const NetworkDescribeDnsmasq *d, const uint8_t mac[6]) {
        for (size_t i = 0; i < d->n_leases; i++)
                if (memcmp(d->leases[i].mac, mac, 6) == 0)
                        return &d->leases[i];
        return NULL;
}

static struct json_object *describe_dnsmasq(const NetworkDescribeDnsmasq *d) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "running", json_object_new_boolean(d->pid > 0));
        json_object_object_add(o, "pid", d->pid > 0 ? json_object_new_int(d->pid) : NULL);
        json_object_object_add(o, "restarts", json_object_new_int((int) d->restarts));
        json_object_object_add(o, "config_file", json_str_or_null(d->config_file));
        json_object_object_add(o, "lease_file", json_str_or_null(d->lease_file));
        json_object_object_add(o, "leases", json_object_new_int((int) d->n_leases));
        return o;
}

static struct json_object *describe_bridge(const NetworkDescribeInput *in, const BridgePlan *bp, size_t i) {
        const LinkInfo *li = describe_find_link(in, bp->name);
        struct json_object *b = json_object_new_object();
        char addr[INET_ADDRSTRLEN + 4], a[INET_ADDRSTRLEN];

        json_object_object_add(b, "name", json_object_new_string(bp->name));
        json_object_object_add(b, "managed", json_object_new_boolean(bp->managed));
        /* A managed bridge's name held by a link that is not ours is a conflict, not "present". */
        json_object_object_add(
                        b,
                        "present",
                        json_object_new_boolean(li && (!bp->managed || li->group == NET_NETDEV_GROUP)));
        json_object_object_add(b, "up", json_object_new_boolean(li && (li->flags & IFF_UP)));
        if (bp->managed) {
                ipv4_to_string(bp->address, a);
                (void) snprintf(addr, sizeof(addr), "%s/24", a);
                json_object_object_add(b, "address", json_object_new_string(addr));
                json_object_object_add(b, "ipv6_prefix", json_str_or_null(bp->ipv6_prefix));
                json_object_object_add(b, "dnsmasq", describe_dnsmasq(&in->dnsmasq[i]));
        }
        return b;
}

static struct json_object *describe_bridges(const NetworkDescribeInput *in, const BridgePlan bridges[]) {
        struct json_object *arr = json_object_new_array();

        for (size_t i = 0; i < NET_BRIDGES; i++) {
                if (i == 1 && !bridges[i].managed) /* bridge_interface: one bridge, listed once */
                        break;
                json_object_array_add(arr, describe_bridge(in, &bridges[i], i));
        }
        return arr;
}

static struct json_object *describe_lease(const DnsmasqLease *le) {
        struct json_object *lo;

        if (!le)
                return NULL;
        lo = json_object_new_object();
        json_object_object_add(lo, "ip", json_object_new_string(le->ip));
        json_object_object_add(lo, "hostname", json_str_or_null(le->hostname[0] ? le->hostname : NULL));
        json_object_object_add(lo, "expires", json_object_new_int64((int64_t) le->expires));
        return lo;
}

static struct json_object *describe_tap(
                const NetworkDescribeInput *in, const BridgePlan bridges[], unsigned slot, TapKind k) {
        const NetConfig *c = in->config;
        struct json_object *to = json_object_new_object();
        const LinkInfo *li, *master;
        char name[IFNAMSIZ], mac[18];
        uint8_t macb[6];
        Ipv4Slash30 a;
        int bi;

        (void) slot_tap_name(slot, k, name);
        li = describe_find_link(in, name);
        master = li && li->master > 0 ? link_table_find_index(in->links, li->master) : NULL;

        json_object_object_add(to, "name", json_object_new_string(name));
        json_object_object_add(to, "kind", json_object_new_string(tap_kind_json_to_string(k)));
        json_object_object_add(to, "present", json_object_new_boolean(li && li->group == NET_NETDEV_GROUP));
        json_object_object_add(to, "up", json_object_new_boolean(li && (li->flags & IFF_UP)));
        json_object_object_add(to, "bridge", master ? json_object_new_string(master->name) : NULL);
        if (slot_guest_mac(slot, k, macb) >= 0) {
                mac_to_string(macb, mac);
                json_object_object_add(to, "guest_mac", json_object_new_string(mac));
        }
        if (slot_tap_ipv4(c, slot, k, &a) >= 0) {
                char gw[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN + 4];

                ipv4_to_string(a.gateway, gw);
                ipv4_to_string(a.guest, guest);
                (void) snprintf(s, sizeof(s), "%s/30", gw);
                json_object_object_add(to, "address", json_object_new_string(s));
                json_object_object_add(to, "guest_address", json_object_new_string(guest));
        }
        /* Taps on a managed bridge have a guest MAC, so a lease to look for. */
        bi = tap_kind_bridge(k);
        if (bi >= 0 && bridges[bi].managed)
                json_object_object_add(to, "lease", describe_lease(lease_find(&in->dnsmasq[bi], macb)));
        return to;
}

static struct json_object *describe_slots(const NetworkDescribeInput *in, const BridgePlan bridges[]) {
        struct json_object *slots = json_object_new_array();

        for (unsigned slot = 1; slot <= in->config->n_slots; slot++) {
                struct json_object *so = json_object_new_object(), *taps = json_object_new_array();

                json_object_object_add(so, "number", json_object_new_int((int) slot));
                json_object_object_add(so, "vsock_cid", json_object_new_int((int) slot_vsock_cid(slot)));
                for (TapKind k = 0; k < _TAP_KIND_MAX; k++)
                        if (slot_has_tap(in->config, slot, k))
                                json_object_array_add(taps, describe_tap(in, bridges, slot, k));
                json_object_object_add(so, "taps", taps);
                json_object_array_add(slots, so);
        }
        return slots;
}

int network_describe_build(const NetworkDescribeInput *in, struct json_object **ret) {
        const NetConfig *c = in->config;
        BridgePlan bridges[NET_BRIDGES];
        struct json_object *o, *arr;

        net_config_bridges(c, bridges);
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "state", json_object_new_string(network_state_to_string(in->state)));
        json_object_object_add(o, "error", json_str_or_null(in->error));
        json_object_object_add(o, "slot_count", json_object_new_int((int) c->n_slots));
        json_object_object_add(o, "firewall", json_object_new_string(firewall_mode_to_string(c->firewall)));
        json_object_object_add(o, "nft_table", json_object_new_string("inet " NET_TABLE_NAME));
        json_object_object_add(o, "nft_table_present", json_object_new_boolean(in->nft_table_present));
        json_object_object_add(o, "netdev_group", json_object_new_int(NET_NETDEV_GROUP));
        json_object_object_add(
                        o,
                        "links",
                        json_object_new_int(
                                        in->links ? (int) link_table_count_group(in->links, NET_NETDEV_GROUP)
                                                  : -1));
        json_object_object_add(o, "bridge_interface", json_str_or_null(c->bridge_interface));
        /* With bridge_interface and ipv4_bridge=0/ipv6_bridge=0: how frames are kept off it. */
        json_object_object_add(
                        o,
                        "bridge_filter",
                        c->bridge_interface && (!c->ipv4_bridge || !c->ipv6_bridge)
                                        ? json_object_new_string(in->bridge_filter_drop ? "drop" : "broute")
                                        : NULL);
        json_object_object_add(o, "repairs", json_object_new_int((int) in->repairs));

        arr = json_object_new_array();
        STRV_FOREACH (s, in->conflicts)
                json_object_array_add(arr, json_object_new_string(*s));
        json_object_object_add(o, "conflicts", arr);

        json_object_object_add(o, "bridges", describe_bridges(in, bridges));
        json_object_object_add(o, "slots", describe_slots(in, bridges));
        *ret = o;
        return 0;
}
