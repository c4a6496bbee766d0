/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/plan.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/string-table.h"
#include "common/strv.h"

static const char *const tap_kind_table[_TAP_KIND_MAX] = {
        [TAP_ETHERNET] = "etap",
        [TAP_WIFI] = "wtap",
        [TAP_MOBILE] = "mtap",
        [TAP_WIFIAP] = "wifiap",
};

static const uint8_t tap_kind_mac_byte[_TAP_KIND_MAX] = {
        [TAP_MOBILE] = 0xe0,
        [TAP_ETHERNET] = 0xe1,
        [TAP_WIFI] = 0xe2,
};

static const char *const firewall_mode_table[_FIREWALL_MAX] = {
        [FIREWALL_NFTABLES] = "nftables",
        [FIREWALL_NONE] = "none",
};

DEFINE_STRING_TABLE_LOOKUP(tap_kind, TapKind);
DEFINE_STRING_TABLE_LOOKUP(firewall_mode, FirewallMode);

static struct in_addr ipv4(const char *s) {
        struct in_addr a = {};

        (void) inet_pton(AF_INET, s, &a);
        return a;
}

int net_config_init_defaults(NetConfig *c) {
        *c = (NetConfig){
                .n_slots = 10,
                .ipv4_bridge = true,
                .ipv6_bridge = true,
                .dns_servers = { ipv4("8.8.8.8"), ipv4("8.8.4.4") },
                .n_dns_servers = 2,
                .mobile_pools = { ipv4("192.168.97.0"), ipv4("192.168.93.0") },
                .n_mobile_pools = 2,
                .wifiap_pools = { ipv4("192.168.94.0"), ipv4("192.168.95.0") },
                .n_wifiap_pools = 2,
                .firewall = FIREWALL_NFTABLES,
                .restore_sysctls = false,
                .dhcp_ping = true,
        };

        (void) inet_pton(AF_INET6, "2001:4860:4860::8888", &c->dns6_servers[0]);
        (void) inet_pton(AF_INET6, "2001:4860:4860::8844", &c->dns6_servers[1]);
        c->n_dns6_servers = 2;

        c->dnsmasq_user = strdup("nobody");
        if (!c->dnsmasq_user)
                return -ENOMEM;
        return 0;
}

void net_config_done(NetConfig *c) {
        c->bridge_interface = mfree(c->bridge_interface);
        c->ethernet_ipv6_prefix = mfree(c->ethernet_ipv6_prefix);
        c->wifi_ipv6_prefix = mfree(c->wifi_ipv6_prefix);
        c->dnsmasq_user = mfree(c->dnsmasq_user);
}

static int strdup_or_null(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int net_config_copy(const NetConfig *src, NetConfig *dst) {
        NetConfig c = *src;

        c.bridge_interface = c.ethernet_ipv6_prefix = c.wifi_ipv6_prefix = c.dnsmasq_user = NULL;
        if (strdup_or_null(src->bridge_interface, &c.bridge_interface) < 0 ||
            strdup_or_null(src->ethernet_ipv6_prefix, &c.ethernet_ipv6_prefix) < 0 ||
            strdup_or_null(src->wifi_ipv6_prefix, &c.wifi_ipv6_prefix) < 0 ||
            strdup_or_null(src->dnsmasq_user, &c.dnsmasq_user) < 0) {
                net_config_done(&c);
                return -ENOMEM;
        }
        *dst = c;
        return 0;
}

unsigned net_config_slot_capacity(const NetConfig *c) {
        size_t pools = MIN(c->n_mobile_pools, c->n_wifiap_pools);

        return (unsigned) MIN(pools * NET_SLOTS_PER_POOL, (size_t) NET_SLOTS_MAX);
}

int slot_tap_name(unsigned slot, TapKind kind, char ret[static IFNAMSIZ]) {
        if (slot < 1 || slot > NET_SLOTS_MAX || !tap_kind_to_string(kind))
                return -EINVAL;
        (void) snprintf(ret, IFNAMSIZ, "cvd-%s-%02u", tap_kind_table[kind], slot);
        return 0;
}

int slot_parse_tap_name(const char *name, unsigned *ret_slot, TapKind *ret_kind) {
        const char *p, *dash;
        uint32_t slot;
        TapKind kind;
        char buf[16];

        if (!name || strncmp(name, "cvd-", 4) != 0)
                return 0;
        p = name + 4;
        dash = strchr(p, '-');
        if (!dash || (size_t) (dash - p) >= sizeof(buf))
                return 0;
        memcpy(buf, p, (size_t) (dash - p));
        buf[dash - p] = 0;
        kind = tap_kind_from_string(buf);
        if (kind < 0)
                return 0;
        /* Two digits at least, as the names are printed. */
        if (strlen(dash + 1) < 2 || parse_uint32(dash + 1, &slot) < 0 || slot < 1 || slot > NET_SLOTS_MAX)
                return 0;
        if (slot < 100 && strlen(dash + 1) != 2)
                return 0;
        if (slot >= 100 && dash[1] == '0')
                return 0;

        if (ret_slot)
                *ret_slot = slot;
        if (ret_kind)
                *ret_kind = kind;
        return 1;
}

bool slot_has_tap(const NetConfig *c, unsigned slot, TapKind kind) {
        if (slot < 1 || slot > c->n_slots)
                return false;
        switch (kind) {
        case TAP_ETHERNET:
        case TAP_WIFI:
                return true;
        case TAP_MOBILE:
                return (slot - 1) / NET_SLOTS_PER_POOL < c->n_mobile_pools;
        case TAP_WIFIAP:
                return (slot - 1) / NET_SLOTS_PER_POOL < c->n_wifiap_pools;
        case _TAP_KIND_MAX:
        case _TAP_KIND_INVALID:
                break;
        }
        return false;
}

static struct in_addr ipv4_add(struct in_addr a, uint32_t n) {
        return (struct in_addr){ .s_addr = htonl(ntohl(a.s_addr) + n) };
}

int slot_tap_ipv4(const NetConfig *c, unsigned slot, TapKind kind, Ipv4Slash30 *ret) {
        const struct in_addr *pools;
        unsigned j;

        if (kind != TAP_MOBILE && kind != TAP_WIFIAP)
                return -ENOENT;
        if (!slot_has_tap(c, slot, kind))
                return -ENOENT;

        pools = kind == TAP_MOBILE ? c->mobile_pools : c->wifiap_pools;
        /* Within its /24, slot i is the j-th /30 (j = 1..64): network 4j-4, gateway 4j-3,
         * guest 4j-2, broadcast 4j-1. */
        j = (slot - 1) % NET_SLOTS_PER_POOL + 1;
        struct in_addr base = pools[(slot - 1) / NET_SLOTS_PER_POOL];
        *ret = (Ipv4Slash30){
                .network = ipv4_add(base, 4 * j - 4),
                .gateway = ipv4_add(base, 4 * j - 3),
                .guest = ipv4_add(base, 4 * j - 2),
                .broadcast = ipv4_add(base, 4 * j - 1),
        };
        return 0;
}

int slot_guest_mac(unsigned slot, TapKind kind, uint8_t ret[static 6]) {
        if (slot < 1 || slot > 256)
                return -EINVAL;
        if (kind != TAP_MOBILE && kind != TAP_ETHERNET && kind != TAP_WIFI)
                return -ENOENT;

        ret[0] = 0x00;
        ret[1] = 0x1a;
        ret[2] = 0x11;
        ret[3] = tap_kind_mac_byte[kind];
        ret[4] = 0xcf;
        ret[5] = (uint8_t) (slot - 1);
        return 0;
}

void mac_to_string(const uint8_t mac[static 6], char ret[static 18]) {
        (void) snprintf(ret,
                        18,
                        "%02x:%02x:%02x:%02x:%02x:%02x",
                        mac[0],
                        mac[1],
                        mac[2],
                        mac[3],
                        mac[4],
                        mac[5]);
}

unsigned slot_vsock_cid(unsigned slot) {
        /* Cuttlefish: guest CID = 3 + instance - 1. */
        return slot + 2;
}

void net_config_bridges(const NetConfig *c, BridgePlan ret[static NET_BRIDGES]) {
        if (c->bridge_interface) {
                ret[0] = ret[1] = (BridgePlan){ .name = c->bridge_interface, .managed = false };
                return;
        }

        ret[0] = (BridgePlan){
                .name = NET_ETHERNET_BRIDGE,
                .managed = true,
                .address = ipv4("192.168.98.1"),
                .dhcp_first = ipv4("192.168.98.2"),
                .dhcp_last = ipv4("192.168.98.255"),
                .ipv6_prefix = c->ethernet_ipv6_prefix,
                .ipv6_prefix_length = c->ethernet_ipv6_prefix_length,
        };
        ret[1] = (BridgePlan){
                .name = NET_WIFI_BRIDGE,
                .managed = true,
                .address = ipv4("192.168.96.1"),
                .dhcp_first = ipv4("192.168.96.2"),
                .dhcp_last = ipv4("192.168.96.255"),
                .ipv6_prefix = c->wifi_ipv6_prefix,
                .ipv6_prefix_length = c->wifi_ipv6_prefix_length,
        };
}

int tap_kind_bridge(TapKind kind) {
        switch (kind) {
        case TAP_ETHERNET:
                return 0;
        case TAP_WIFI:
                return 1;
        case TAP_MOBILE:
        case TAP_WIFIAP:
        case _TAP_KIND_MAX:
        case _TAP_KIND_INVALID:
                break;
        }
        return -1;
}

void ipv4_to_string(struct in_addr a, char ret[static INET_ADDRSTRLEN]) {
        (void) inet_ntop(AF_INET, &a, ret, INET_ADDRSTRLEN);
}

static int push_net(char ***l, struct in_addr a, unsigned prefixlen) {
        char s[INET_ADDRSTRLEN], *e;

        ipv4_to_string(a, s);
        if (asprintf(&e, "%s/%u", s, prefixlen) < 0)
                return -ENOMEM;
        return strv_push(l, e);
}

int net_config_nat_sources(const NetConfig *c, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        BridgePlan bridges[NET_BRIDGES];
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        net_config_bridges(c, bridges);
        for (size_t b = 0; b < NET_BRIDGES; b++) {
                if (!bridges[b].managed)
                        continue;
                r = push_net(&l, (struct in_addr){ bridges[b].address.s_addr & htonl(0xffffff00) }, 24);
                if (r < 0)
                        return r;
        }

        for (unsigned slot = 1; slot <= c->n_slots; slot++)
                for (TapKind k = TAP_MOBILE; k <= TAP_WIFIAP; k++) {
                        Ipv4Slash30 a;

                        if (slot_tap_ipv4(c, slot, k, &a) < 0)
                                continue;
                        r = push_net(&l, a.network, 30);
                        if (r < 0)
                                return r;
                }

        *ret = TAKE_PTR(l);
        return 0;
}
