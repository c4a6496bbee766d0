/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The slot plan: which links, addresses, MACs and vsock CIDs slot N owns. Pure arithmetic on a
 * NetConfig, no I/O, so it is tested row by row against the reference script's layout. */

#include <errno.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NET_SLOTS_MAX 253             /* guests a /24 bridge can lease to: .2 - .254 */
#define NET_POOLS_MAX 8               /* /24s per pool list; 4 cover 253 slots */
#define NET_SLOTS_PER_POOL 64         /* /30s per /24 */
#define NET_NETDEV_GROUP 3312         /* 0xcf0: every link we create carries it */
#define NET_NETDEV_GROUP_RECYCLE 3313 /* taps given back by an instance, deleted in one go */
#define NET_TABLE_NAME "cuttlefish_host_resources"
#define NET_DNS_MAX 8

#define NET_ETHERNET_BRIDGE "cvd-ebr"
#define NET_WIFI_BRIDGE "cvd-wbr"

typedef enum TapKind {
        TAP_ETHERNET, /* cvd-etap-NN on the ethernet bridge */
        TAP_WIFI,     /* cvd-wtap-NN on the wifi bridge */
        TAP_MOBILE,   /* cvd-mtap-NN, own /30 */
        TAP_WIFIAP,   /* cvd-wifiap-NN, own /30 */
        _TAP_KIND_MAX,
        _TAP_KIND_INVALID = -EINVAL,
} TapKind;

typedef enum FirewallMode {
        FIREWALL_NFTABLES,
        FIREWALL_NONE,
        _FIREWALL_MAX,
        _FIREWALL_INVALID = -EINVAL,
} FirewallMode;

typedef struct NetConfig {
        unsigned n_slots;
        char *bridge_interface; /* NULL: we manage cvd-ebr and cvd-wbr */
        bool ipv4_bridge;
        bool ipv6_bridge;
        struct in_addr dns_servers[NET_DNS_MAX];
        size_t n_dns_servers;
        struct in6_addr dns6_servers[NET_DNS_MAX];
        size_t n_dns6_servers;
        char *ethernet_ipv6_prefix; /* as written, e.g. "2001:db8:1::"; the bridge gets "<prefix>1" */
        unsigned ethernet_ipv6_prefix_length;
        char *wifi_ipv6_prefix;
        unsigned wifi_ipv6_prefix_length;
        struct in_addr mobile_pools[NET_POOLS_MAX]; /* network addresses of /24s */
        size_t n_mobile_pools;
        struct in_addr wifiap_pools[NET_POOLS_MAX];
        size_t n_wifiap_pools;
        FirewallMode firewall;
        bool restore_sysctls;
        char *dnsmasq_user;
        bool dhcp_ping;
} NetConfig;

/* One IPv4 /30 of a point-to-point tap: the host side carries gateway and broadcast. */
typedef struct Ipv4Slash30 {
        struct in_addr network, gateway, guest, broadcast;
} Ipv4Slash30;

/* A managed bridge, or the bridge_interface the operator gave us. */
typedef struct BridgePlan {
        const char *name;
        bool managed;           /* created, addressed, served by dnsmasq and removed by us */
        struct in_addr address; /* 192.168.98.1 / 192.168.96.1 on managed bridges */
        struct in_addr dhcp_first, dhcp_last;
        const char *ipv6_prefix; /* NULL or as configured */
        unsigned ipv6_prefix_length;
} BridgePlan;

int net_config_init_defaults(NetConfig *c);
void net_config_done(NetConfig *c);
int net_config_copy(const NetConfig *src, NetConfig *dst);
unsigned net_config_slot_capacity(const NetConfig *c);

const char *tap_kind_to_string(TapKind k);
TapKind tap_kind_from_string(const char *s);
const char *firewall_mode_to_string(FirewallMode m);
FirewallMode firewall_mode_from_string(const char *s);

/* Link names: "cvd-etap-03", three digits past 99. */
int slot_tap_name(unsigned slot, TapKind kind, char ret[static IFNAMSIZ]);
/* The inverse: 1 and the slot/kind when name is one of our tap names, 0 otherwise. */
int slot_parse_tap_name(const char *name, unsigned *ret_slot, TapKind *ret_kind);
/* 1 if slot has a tap of this kind under c (mobile/wifiap need room in the pools), 0 if not. */
bool slot_has_tap(const NetConfig *c, unsigned slot, TapKind kind);
/* The /30 of a mobile or wifiap tap; -ENOENT if the slot has none. */
int slot_tap_ipv4(const NetConfig *c, unsigned slot, TapKind kind, Ipv4Slash30 *ret);
/* Guest MAC, as Cuttlefish's launcher assigns it: 00:1a:11:{e0,e1,e2}:cf:(slot-1). */
int slot_guest_mac(unsigned slot, TapKind kind, uint8_t ret[static 6]);
void mac_to_string(const uint8_t mac[static 6], char ret[static 18]);
unsigned slot_vsock_cid(unsigned slot);

/* Bridges: index 0 ethernet, 1 wifi. With bridge_interface both name it and are unmanaged. */
#define NET_BRIDGES 2
void net_config_bridges(const NetConfig *c, BridgePlan ret[static NET_BRIDGES]);
/* Which bridge a tap hangs on: 0 ethernet, 1 wifi, -1 none. */
int tap_kind_bridge(TapKind kind);

/* Every IPv4 network that NAT masquerades: the managed bridges' /24s and each tap's /30. */
int net_config_nat_sources(const NetConfig *c, char ***ret);

/* "a.b.c.d" */
void ipv4_to_string(struct in_addr a, char ret[static INET_ADDRSTRLEN]);
