/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <fnmatch.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <netlink/route/route.h>
#include <nftables/libnftables.h>

#include "common/json-util.h"
#include "netsetup/links.h"
#include "netsetup/nl.h"
#include "netsetup/probe.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"

void host_issues_done(HostIssues *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].check);
                free(l->items[i].detail);
                free(l->items[i].fix);
        }
        free(l->items);
        *l = (HostIssues){};
}

int host_issues_add(
                HostIssues *l,
                const char *check,
                bool problem,
                const char *fix,
                const char *detail_fmt,
                ...) {
        HostIssue *items, it = { .problem = problem };
        va_list ap;
        int r;

        va_start(ap, detail_fmt);
        r = vasprintf(&it.detail, detail_fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        it.check = strdup(check);
        it.fix = fix ? strdup(fix) : NULL;
        items = reallocarray(l->items, l->n + 1, sizeof(HostIssue));
        if (!it.check || (fix && !it.fix) || !items) {
                free(it.check);
                free(it.detail);
                free(it.fix);
                if (items)
                        l->items = items;
                return -ENOMEM;
        }
        l->items = items;
        l->items[l->n++] = it;
        return 0;
}

bool ipv4_prefixes_overlap(struct in_addr a, unsigned alen, struct in_addr b, unsigned blen) {
        unsigned len = MIN(MIN(alen, blen), 32u);
        uint32_t mask = len == 0 ? 0 : htonl(~UINT32_C(0) << (32 - len));

        return (a.s_addr & mask) == (b.s_addr & mask);
}

/* Routes */

typedef struct Subnet {
        struct in_addr net;
        unsigned len;
        char owner[IFNAMSIZ];
} Subnet;

static int plan_subnets(const NetConfig *c, Subnet **ret, size_t *ret_n) {
        _cleanup_free_ Subnet *l = calloc(NET_BRIDGES + (size_t) c->n_slots * 2, sizeof(Subnet));
        BridgePlan bridges[NET_BRIDGES];
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        net_config_bridges(c, bridges);
        for (size_t b = 0; b < NET_BRIDGES; b++) {
                if (!bridges[b].managed)
                        continue;
                l[n].net.s_addr = bridges[b].address.s_addr & htonl(0xffffff00);
                l[n].len = 24;
                (void) snprintf(l[n].owner, sizeof(l[n].owner), "%s", bridges[b].name);
                n++;
        }
        for (unsigned slot = 1; slot <= c->n_slots; slot++)
                for (TapKind k = TAP_MOBILE; k <= TAP_WIFIAP; k++) {
                        Ipv4Slash30 a;

                        if (slot_tap_ipv4(c, slot, k, &a) < 0)
                                continue;
                        l[n].net = a.network;
                        l[n].len = 30;
                        (void) slot_tap_name(slot, k, l[n].owner);
                        n++;
                }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* "10.0.0.0/8 dev eth1", "blackhole 10.0.0.0/8", with " table N" outside main. */
static void route_describe(
                struct rtnl_route *rt,
                struct in_addr net,
                unsigned len,
                const LinkInfo *li,
                char *what,
                size_t size) {
        uint8_t type = rtnl_route_get_type(rt);
        uint32_t table = rtnl_route_get_table(rt);
        char a[INET_ADDRSTRLEN];

        ipv4_to_string(net, a);
        if (type == RTN_UNICAST)
                (void) snprintf(what, size, "%s/%u dev %s", a, len, li ? li->name : "?");
        else
                (void) snprintf(what,
                                size,
                                "%s %s/%u",
                                type == RTN_BLACKHOLE                     ? "blackhole"
                                                : type == RTN_UNREACHABLE ? "unreachable"
                                                                          : "prohibit",
                                a,
                                len);
        if (table != RT_TABLE_MAIN)
                (void) snprintf(what + strlen(what), size - strlen(what), " table %u", table);
}

/* A route that could take our subnets' traffic: not local, not the default, not ours. */
static bool route_relevant(
                struct rtnl_route *rt, const LinkInfo *li, struct in_addr *ret_net, unsigned *ret_len) {
        struct nl_addr *dst = rtnl_route_get_dst(rt);
        uint8_t type = rtnl_route_get_type(rt);

        if (!dst || nl_addr_get_family(dst) != AF_INET || nl_addr_get_len(dst) != 4)
                return false;
        if (rtnl_route_get_table(rt) == RT_TABLE_LOCAL ||
            (type != RTN_UNICAST && type != RTN_BLACKHOLE && type != RTN_UNREACHABLE &&
             type != RTN_PROHIBIT))
                return false;
        *ret_len = nl_addr_get_prefixlen(dst);
        if (*ret_len == 0)
                return false; /* the default route overlaps everything and claims nothing */
        if (li && (li->group == NET_NETDEV_GROUP || li->group == NET_NETDEV_GROUP_RECYCLE))
                return false; /* ours (a tap given back still carries its address until deleted) */
        memcpy(ret_net, nl_addr_get_binary_addr(dst), 4);
        return true;
}

/* 0: no overlap; 1: reported. */
static int route_check(
                struct rtnl_route *rt,
                const LinkTable *t,
                const Subnet *subnets,
                size_t n_subnets,
                HostIssues *l) {
        struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(rt) > 0 ? rtnl_route_nexthop_n(rt, 0) : NULL;
        const LinkInfo *li = nh ? link_table_find_index(t, rtnl_route_nh_get_ifindex(nh)) : NULL;
        char s[INET_ADDRSTRLEN], what[128], fix[256];
        const Subnet *first = NULL;
        unsigned len, hits = 0;
        struct in_addr net;
        int r;

        if (!route_relevant(rt, li, &net, &len))
                return 0;
        for (size_t i = 0; i < n_subnets; i++)
                if (ipv4_prefixes_overlap(net, len, subnets[i].net, subnets[i].len)) {
                        if (!first)
                                first = &subnets[i];
                        hits++;
                }
        if (!first)
                return 0;
        ipv4_to_string(first->net, s);
        route_describe(rt, net, len, li, what, sizeof(what));
        (void) snprintf(fix, sizeof(fix), "sudo ip route del %s", what);
        r = host_issues_add(
                        l,
                        "route-overlap",
                        true,
                        fix,
                        "the route %s overlaps %s/%u of %s%s%.0u%s: the service does not set up "
                        "its network while it exists. Remove the route, or (for the taps' /30s) "
                        "move mobile_ipv4_pools/wifiap_ipv4_pools elsewhere",
                        what,
                        s,
                        first->len,
                        first->owner,
                        hits > 1 ? " and " : "",
                        hits > 1 ? hits - 1 : 0,
                        hits > 1 ? " more planned subnets" : "");
        return r < 0 ? r : 1;
}

int probe_route_overlaps(struct nl_sock *sk, const NetConfig *c, HostIssues *l) {
        _cleanup_(nl_cache_freep) struct nl_cache *routes = NULL;
        _cleanup_(link_table_done) LinkTable t = {};
        _cleanup_free_ Subnet *subnets = NULL;
        size_t n_subnets = 0;
        int r, found = 0;

        r = plan_subnets(c, &subnets, &n_subnets);
        if (r < 0)
                return r;
        r = link_table_load(sk, &t);
        if (r < 0)
                return r;
        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes);
        if (r < 0)
                return errno_from_nl(r);
        for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
                r = route_check((struct rtnl_route *) o, &t, subnets, n_subnets, l);
                if (r < 0)
                        return r;
                found += r;
        }
        return found;
}

/* Forward chains */

static struct nft_ctx *nft_ctx_free_helper(struct nft_ctx *c) {
        nft_ctx_free(c);
        return NULL;
}
DEFINE_CLEANUP(struct nft_ctx *, nft_ctx_free_helper);

static const char *jstr(struct json_object *o, const char *key) {
        struct json_object *v;

        return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static bool table_is(struct json_object *o, const char *family, const char *table) {
        return streq_ptr(jstr(o, "family"), family) && streq_ptr(jstr(o, "table"), table);
}

/* Does any rule of this table name a cvd-* link? Then the admin has made room for us already. */
static bool table_mentions_cvd(struct json_object *items, const char *family, const char *table) {
        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *it = json_object_array_get_idx(items, i), *rule, *expr;

                if (!json_object_object_get_ex(it, "rule", &rule) || !table_is(rule, family, table))
                        continue;
                if (json_object_object_get_ex(rule, "expr", &expr) &&
                    strstr(json_object_to_json_string_ext(expr, JSON_C_TO_STRING_PLAIN), "\"cvd"))
                        return true;
        }
        return false;
}

static bool table_has_chain(
                struct json_object *items, const char *family, const char *table, const char *chain) {
        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *it = json_object_array_get_idx(items, i), *ch;

                if (json_object_object_get_ex(it, "chain", &ch) && table_is(ch, family, table) &&
                    streq_ptr(jstr(ch, "name"), chain))
                        return true;
        }
        return false;
}

/* The command that lets cvd-* through a chain, in the language of the tool that made it. */
static void forward_drop_fix(
                struct json_object *items,
                const char *family,
                const char *table,
                const char *name,
                char *fix,
                size_t size) {
        /* iptables-nft keeps its tables as "ip filter"/"ip6 filter": answer in its language. */
        const char *tool = streq(family, "ip") ? "iptables" : streq(family, "ip6") ? "ip6tables" : NULL;

        if (tool && table_has_chain(items, family, table, "DOCKER-USER"))
                (void) snprintf(fix,
                                size,
                                "sudo %s -I DOCKER-USER -i cvd-+ -j ACCEPT && sudo %s -I DOCKER-USER -o "
                                "cvd-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                                tool,
                                tool);
        else if (tool && streq(table, "filter"))
                (void) snprintf(fix,
                                size,
                                "sudo %s -I %s -i cvd-+ -j ACCEPT && sudo %s -I %s -o cvd-+ -m conntrack "
                                "--ctstate RELATED,ESTABLISHED -j ACCEPT",
                                tool,
                                name,
                                tool,
                                name);
        else
                (void) snprintf(fix,
                                size,
                                "sudo nft insert rule %s %s %s iifname \"cvd-*\" accept && sudo nft insert "
                                "rule %s %s %s oifname \"cvd-*\" ct state established,related accept",
                                family,
                                table,
                                name,
                                family,
                                table,
                                name);
}

/* Forward chains of other tables that drop by default and say nothing of cvd-* links. */
static int forward_drop_chains(struct json_object *items, HostIssues *l) {
        int r, found = 0;

        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *it = json_object_array_get_idx(items, i), *ch;
                const char *family, *table, *name;
                char fix[512];

                if (!json_object_object_get_ex(it, "chain", &ch))
                        continue;
                family = jstr(ch, "family");
                table = jstr(ch, "table");
                name = jstr(ch, "name");
                if (!family || !table || !name || !streq_ptr(jstr(ch, "hook"), "forward") ||
                    !streq_ptr(jstr(ch, "policy"), "drop"))
                        continue;
                if (streq(table, NET_TABLE_NAME) || table_mentions_cvd(items, family, table))
                        continue;
                forward_drop_fix(items, family, table, name, fix, sizeof(fix));
                r = host_issues_add(
                                l,
                                "forward-drop",
                                true,
                                fix,
                                "the forward chain '%s' of table %s %s%s drops by default and has no rule for "
                                "cvd-* links: guests' forwarded traffic is dropped whatever this service's "
                                "table accepts",
                                name,
                                family,
                                table,
                                table_has_chain(items, family, table, "DOCKER-USER") ? " (Docker)" : "");
                if (r < 0)
                        return r;
                found++;
        }
        return found;
}

/* firewalld keeps policy accept but ends its chains with a reject (filter_FORWARD, and
 * filter_INPUT refuses the guests' DHCP): no drop policy to see, so look for its table.
 * Interfaces in a permissive zone show up as rules naming them. */
static int forward_drop_firewalld(struct json_object *items, HostIssues *l) {
        int r, found = 0;

        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *it = json_object_array_get_idx(items, i), *t;

                if (!json_object_object_get_ex(it, "table", &t) || !streq_ptr(jstr(t, "family"), "inet") ||
                    !streq_ptr(jstr(t, "name"), "firewalld") ||
                    table_mentions_cvd(items, "inet", "firewalld"))
                        continue;
                r = host_issues_add(
                                l,
                                "firewalld",
                                true,
                                "sudo firewall-cmd --permanent --zone=trusted --add-interface=cvd-ebr "
                                "--add-interface=cvd-wbr && sudo firewall-cmd --reload",
                                "firewalld is active and no zone lets cvd-* links through: it rejects the guests' "
                                "DHCP requests and their forwarded traffic (add the cvd-mtap-NN and "
                                "cvd-wifiap-NN taps to the zone too where guests use them)");
                if (r < 0)
                        return r;
                found++;
        }
        return found;
}

int probe_forward_drop(HostIssues *l) {
        _cleanup_(nft_ctx_free_helperp) struct nft_ctx *ctx = NULL;
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        struct json_object *items;
        int a, b;

        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return -ENOMEM;
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
                return -ENOMEM;
        nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
        if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0)
                return -EIO;
        root = json_tokener_parse(strempty(nft_ctx_get_output_buffer(ctx)));
        if (!root || !json_object_object_get_ex(root, "nftables", &items) ||
            !json_object_is_type(items, json_type_array))
                return -EBADMSG;
        a = forward_drop_chains(items, l);
        if (a < 0)
                return a;
        b = forward_drop_firewalld(items, l);
        if (b < 0)
                return b;
        return a + b;
}

/* NetworkManager */

static const char *const nm_sample_names[] = {
        "cvd-ebr", "cvd-wbr", "cvd-etap-01", "cvd-wtap-01", "cvd-mtap-01", "cvd-wifiap-01", "cvd-etap-100",
};

static bool nm_spec_matches(const char *spec, const char *name) {
        const char *p;

        if (strncmp(spec, "interface-name:", 15) != 0)
                return false;
        p = spec + 15;
        if (*p == '=')
                return streq(p + 1, name);
        if (*p == '~')
                p++;
        return fnmatch(p, name, 0) == 0;
}

int nm_conf_covers_cvd(const char *text) {
        _cleanup_(strv_freep) char **lines = NULL;
        bool in_keyfile = false, covered[ELEMENTSOF(nm_sample_names)] = {};
        int r;

        r = strv_split(text, "\n", &lines);
        if (r < 0)
                return r;
        STRV_FOREACH (line, lines) {
                _cleanup_(strv_freep) char **specs = NULL;
                char *s = strstrip(*line), *v;

                if (*s == '[') {
                        in_keyfile = strncmp(s, "[keyfile]", 9) == 0;
                        continue;
                }
                if (!in_keyfile || strncmp(s, "unmanaged-devices", 17) != 0)
                        continue;
                v = s + 17;
                while (*v == ' ' || *v == '\t')
                        v++;
                if (*v == '+')
                        v++;
                if (*v != '=')
                        continue;
                r = strv_split(v + 1, ";,", &specs);
                if (r < 0)
                        return r;
                STRV_FOREACH (spec, specs)
                        for (size_t k = 0; k < ELEMENTSOF(nm_sample_names); k++)
                                covered[k] = covered[k] ||
                                                nm_spec_matches(strstrip(*spec), nm_sample_names[k]);
        }
        for (size_t k = 0; k < ELEMENTSOF(nm_sample_names); k++)
                if (!covered[k])
                        return 0;
        return 1;
}

static int nm_file_covers(const char *path) {
        _cleanup_free_ char *text = NULL;

        if (read_full_file(path, &text, NULL) < 0)
                return 0;
        return nm_conf_covers_cvd(text);
}

static DIR *closedir_helper(DIR *d) {
        (void) closedir(d);
        return NULL;
}
DEFINE_CLEANUP(DIR *, closedir_helper);

static int nm_dir_covers(const char *dir) {
        _cleanup_(closedir_helperp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                size_t n = strlen(de->d_name);

                if (n < 6 || !streq(de->d_name + n - 5, ".conf"))
                        continue;
                p = path_join(dir, de->d_name);
                if (!p)
                        return -ENOMEM;
                if (nm_file_covers(p) > 0)
                        return 1;
        }
        return 0;
}

int probe_network_manager(HostIssues *l) {
        static const char *const dirs[] = {
                "/usr/lib/NetworkManager/conf.d",
                "/run/NetworkManager/conf.d",
                "/etc/NetworkManager/conf.d",
        };
        int r;

        if (access("/run/NetworkManager", F_OK) < 0)
                return 0;
        if (nm_file_covers("/etc/NetworkManager/NetworkManager.conf") > 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (nm_dir_covers(dirs[i]) > 0)
                        return 0;

        r = host_issues_add(
                        l,
                        "networkmanager",
                        true,
                        "printf '[keyfile]\\nunmanaged-devices+=interface-name:cvd-*\\n' | sudo tee "
                        "/etc/NetworkManager/conf.d/99-cuttlefish-host-resources.conf && sudo systemctl reload "
                        "NetworkManager",
                        "NetworkManager runs (/run/NetworkManager exists) and no configuration keeps it off "
                        "cvd-* links (unmanaged-devices=interface-name:cvd-* in [keyfile]): it may take "
                        "addresses or ports away from them. The package installs "
                        "/usr/lib/NetworkManager/conf.d/99-cuttlefish-host-resources.conf for this");
        return r < 0 ? r : 1;
}
