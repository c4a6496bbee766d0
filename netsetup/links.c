/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "netsetup/links.h"
#include "netsetup/nl.h"
#include "common/macro.h"
#include "common/strv.h"

void link_table_done(LinkTable *t) {
        t->links = mfree(t->links);
        t->addrs = mfree(t->addrs);
        t->n_links = t->n_addrs = 0;
}

int link_table_load(struct nl_sock *sk, LinkTable *ret) {
        _cleanup_(nl_cache_freep) struct nl_cache *links = NULL, *addrs = NULL;
        LinkTable t = {};
        size_t i;
        int r;

        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
        if (r < 0)
                return errno_from_nl(r);
        r = rtnl_addr_alloc_cache(sk, &addrs);
        if (r < 0)
                return errno_from_nl(r);

        t.links = calloc(MAX(nl_cache_nitems(links), 1), sizeof(LinkInfo));
        t.addrs = calloc(MAX(nl_cache_nitems(addrs), 1), sizeof(AddrInfo));
        if (!t.links || !t.addrs) {
                link_table_done(&t);
                return -ENOMEM;
        }

        i = 0;
        for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
                struct rtnl_link *l = (struct rtnl_link *) o;
                LinkInfo *li = &t.links[i++];

                (void) snprintf(li->name, sizeof(li->name), "%s", strempty(rtnl_link_get_name(l)));
                (void) snprintf(li->kind, sizeof(li->kind), "%s", strempty(rtnl_link_get_type(l)));
                li->ifindex = rtnl_link_get_ifindex(l);
                li->master = rtnl_link_get_master(l);
                li->group = rtnl_link_get_group(l);
                li->flags = rtnl_link_get_flags(l);
        }
        t.n_links = i;

        i = 0;
        for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *) o;
                struct nl_addr *local = rtnl_addr_get_local(a);
                AddrInfo *ai = &t.addrs[i];

                if (!local || nl_addr_get_len(local) > sizeof(ai->addr))
                        continue;
                ai->ifindex = rtnl_addr_get_ifindex(a);
                ai->family = rtnl_addr_get_family(a);
                memcpy(ai->addr, nl_addr_get_binary_addr(local), nl_addr_get_len(local));
                ai->prefixlen = rtnl_addr_get_prefixlen(a);
                ai->scope = rtnl_addr_get_scope(a);
                i++;
        }
        t.n_addrs = i;

        *ret = t;
        return 0;
}

const LinkInfo *link_table_find(const LinkTable *t, const char *name) {
        for (size_t i = 0; i < t->n_links; i++)
                if (streq(t->links[i].name, name))
                        return &t->links[i];
        return NULL;
}

const LinkInfo *link_table_find_index(const LinkTable *t, int ifindex) {
        for (size_t i = 0; i < t->n_links; i++)
                if (t->links[i].ifindex == ifindex)
                        return &t->links[i];
        return NULL;
}

bool link_table_has_addr(const LinkTable *t, int ifindex, int family, const void *addr, unsigned prefixlen) {
        size_t len = family == AF_INET ? 4 : 16;

        for (size_t i = 0; i < t->n_addrs; i++) {
                const AddrInfo *a = &t->addrs[i];
                if (a->ifindex == ifindex && a->family == family && a->prefixlen == prefixlen &&
                    memcmp(a->addr, addr, len) == 0)
                        return true;
        }
        return false;
}

size_t link_table_count_group(const LinkTable *t, uint32_t group) {
        size_t n = 0;

        for (size_t i = 0; i < t->n_links; i++)
                if (t->links[i].group == group)
                        n++;
        return n;
}

void link_report_done(LinkReport *r) {
        r->changes = strv_free(r->changes);
        r->conflicts = strv_free(r->conflicts);
        *r = (LinkReport){};
}

static void report_line(char ***l, const char *fmt, ...) _printf_(2, 3);
static void report_line(char ***l, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) >= 0)
                (void) strv_push(l, s);
        va_end(ap);
}

/* One desired link. */
typedef struct WantLink {
        char name[IFNAMSIZ];
        bool bridge;        /* else a tap */
        const char *master; /* bridge to enslave to, or NULL */
        int n_addrs;
        struct {
                int family;
                unsigned char addr[16];
                unsigned char broadcast[4];
                bool has_broadcast;
                unsigned prefixlen;
        } addrs[2];
} WantLink;

typedef struct Want {
        WantLink *links;
        size_t n_links;
} Want;

static int want_add(Want *w, WantLink **ret) {
        WantLink *l = reallocarray(w->links, w->n_links + 1, sizeof(WantLink));

        if (!l)
                return -ENOMEM;
        w->links = l;
        *ret = &w->links[w->n_links++];
        **ret = (WantLink){};
        return 0;
}

static const WantLink *want_find(const Want *w, const char *name) {
        for (size_t i = 0; i < w->n_links; i++)
                if (streq(w->links[i].name, name))
                        return &w->links[i];
        return NULL;
}

static int want_add_ipv6_prefix(WantLink *l, const char *prefix, unsigned prefixlen) {
        _cleanup_free_ char *s = NULL;

        /* The reference gives the bridge "${prefix}1/${len}". */
        if (asprintf(&s, "%s1", prefix) < 0)
                return -ENOMEM;
        if (inet_pton(AF_INET6, s, l->addrs[l->n_addrs].addr) != 1)
                return -EINVAL;
        l->addrs[l->n_addrs].family = AF_INET6;
        l->addrs[l->n_addrs].prefixlen = prefixlen;
        l->n_addrs++;
        return 0;
}

static int want_build(const NetConfig *c, const bool *keep_slots, Want *ret) {
        BridgePlan bridges[NET_BRIDGES];
        Want w = {};
        WantLink *l;
        int r;

        net_config_bridges(c, bridges);
        for (size_t b = 0; b < NET_BRIDGES; b++) {
                struct in_addr brd;

                if (!bridges[b].managed)
                        continue;
                r = want_add(&w, &l);
                if (r < 0)
                        goto fail;
                (void) snprintf(l->name, sizeof(l->name), "%s", bridges[b].name);
                l->bridge = true;
                l->addrs[0].family = AF_INET;
                memcpy(l->addrs[0].addr, &bridges[b].address, 4);
                brd.s_addr = bridges[b].address.s_addr | htonl(0xff);
                memcpy(l->addrs[0].broadcast, &brd, 4);
                l->addrs[0].has_broadcast = true;
                l->addrs[0].prefixlen = 24;
                l->n_addrs = 1;
                if (bridges[b].ipv6_prefix) {
                        r = want_add_ipv6_prefix(l, bridges[b].ipv6_prefix, bridges[b].ipv6_prefix_length);
                        if (r < 0)
                                goto fail;
                }
        }

        for (unsigned slot = 1; slot <= NET_SLOTS_MAX; slot++) {
                bool keep = slot <= c->n_slots || (keep_slots && keep_slots[slot]);

                if (!keep)
                        continue;
                for (TapKind k = 0; k < _TAP_KIND_MAX; k++) {
                        NetConfig wide = *c;
                        Ipv4Slash30 a;
                        int bi;

                        /* A kept busy slot above n_slots keeps the taps it had. */
                        wide.n_slots = MAX(c->n_slots, slot);
                        if (!slot_has_tap(&wide, slot, k))
                                continue;

                        r = want_add(&w, &l);
                        if (r < 0)
                                goto fail;
                        (void) slot_tap_name(slot, k, l->name);
                        bi = tap_kind_bridge(k);
                        if (bi >= 0)
                                l->master = bridges[bi].name;
                        if (slot_tap_ipv4(&wide, slot, k, &a) >= 0) {
                                l->addrs[0].family = AF_INET;
                                memcpy(l->addrs[0].addr, &a.gateway, 4);
                                memcpy(l->addrs[0].broadcast, &a.broadcast, 4);
                                l->addrs[0].has_broadcast = true;
                                l->addrs[0].prefixlen = 30;
                                l->n_addrs = 1;
                        }
                }
        }

        *ret = w;
        return 0;

fail:
        free(w.links);
        return r;
}

static struct nl_msg *link_msg(int type, int flags, int ifindex, unsigned ifi_flags, unsigned ifi_change) {
        struct ifinfomsg ifi = {
                .ifi_family = AF_UNSPEC,
                .ifi_index = ifindex,
                .ifi_flags = ifi_flags,
                .ifi_change = ifi_change,
        };
        struct nl_msg *msg;

        msg = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);
        if (!msg)
                return NULL;
        if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
                nlmsg_free(msg);
                return NULL;
        }
        return msg;
}

static int batch_create_bridge(NlBatch *b, const char *name) {
        _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
        struct nlattr *info, *data;

        msg = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP, IFF_UP);
        if (!msg)
                return -ENOMEM;
        if (nla_put_string(msg, IFLA_IFNAME, name) < 0 || nla_put_u32(msg, IFLA_GROUP, NET_NETDEV_GROUP) < 0)
                return -ENOMEM;
        info = nla_nest_start(msg, IFLA_LINKINFO);
        if (!info || nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0)
                return -ENOMEM;
        data = nla_nest_start(msg, IFLA_INFO_DATA);
        /* As the reference: forward_delay 0, stp_state 0. */
        if (!data || nla_put_u32(msg, IFLA_BR_FORWARD_DELAY, 0) < 0 ||
            nla_put_u32(msg, IFLA_BR_STP_STATE, 0) < 0)
                return -ENOMEM;
        nla_nest_end(msg, data);
        nla_nest_end(msg, info);

        return nl_batch_add(b, TAKE_PTR(msg), "create bridge %s", name);
}

static int batch_delete_link(NlBatch *b, const LinkInfo *li) {
        struct nl_msg *msg = link_msg(RTM_DELLINK, 0, li->ifindex, 0, 0);

        if (!msg)
                return -ENOMEM;
        return nl_batch_add(b, msg, "delete %s", li->name);
}

static int batch_set_link(NlBatch *b, const char *name, int ifindex, int master) {
        _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;

        msg = link_msg(RTM_SETLINK, 0, ifindex, IFF_UP, IFF_UP);
        if (!msg)
                return -ENOMEM;
        if (nla_put_u32(msg, IFLA_GROUP, NET_NETDEV_GROUP) < 0)
                return -ENOMEM;
        if (master > 0 && nla_put_u32(msg, IFLA_MASTER, (uint32_t) master) < 0)
                return -ENOMEM;
        return nl_batch_add(b, TAKE_PTR(msg), "configure %s", name);
}

static int batch_addr(
                NlBatch *b,
                int type,
                const char *link,
                int ifindex,
                int family,
                const void *addr,
                unsigned prefixlen,
                const void *broadcast) {
        _cleanup_(nlmsg_freep) struct nl_msg *msg = NULL;
        struct ifaddrmsg ifa = {
                .ifa_family = (unsigned char) family,
                .ifa_prefixlen = (unsigned char) prefixlen,
                .ifa_index = (unsigned) ifindex,
                .ifa_scope = RT_SCOPE_UNIVERSE,
        };
        size_t len = family == AF_INET ? 4 : 16;
        char s[INET6_ADDRSTRLEN];

        msg = nlmsg_alloc_simple(
                        type, NLM_F_REQUEST | (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_REPLACE : 0));
        if (!msg)
                return -ENOMEM;
        if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0)
                return -ENOMEM;
        if (nla_put(msg, IFA_LOCAL, (int) len, addr) < 0 || nla_put(msg, IFA_ADDRESS, (int) len, addr) < 0)
                return -ENOMEM;
        if (broadcast && nla_put(msg, IFA_BROADCAST, 4, broadcast) < 0)
                return -ENOMEM;

        (void) inet_ntop(family, addr, s, sizeof(s));
        return nl_batch_add(
                        b,
                        TAKE_PTR(msg),
                        "%s address %s/%u %s %s",
                        type == RTM_NEWADDR ? "add" : "remove",
                        s,
                        prefixlen,
                        type == RTM_NEWADDR ? "to" : "from",
                        link);
}

static int tap_create(const char *name, gid_t group) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        (void) snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        if (group != (gid_t) -1 && ioctl(fd, TUNSETGROUP, (unsigned long) group) < 0)
                return -errno;
        if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
                return -errno;
        return 0;
}

static int batch_run_checked(NlBatch *b, char **ret_error) {
        const NlBatchItem *e;
        int r;

        if (b->n_items == 0)
                return 0;

        r = nl_batch_run(b);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "netlink: %s", strerror(-r));
                return r;
        }
        e = nl_batch_first_error(b);
        if (e) {
                if (ret_error)
                        (void) asprintf(ret_error,
                                        "%s: %s%s",
                                        e->what,
                                        strerror(-e->error),
                                        r > 1 ? " (and more)" : "");
                return e->error;
        }
        return 0;
}

/* A link with one of our names that we did not create: reported, never touched. */
static bool link_is_foreign(const LinkInfo *li) {
        return li->group != NET_NETDEV_GROUP;
}

static bool link_kind_matches(const LinkInfo *li, const WantLink *w) {
        return streq(li->kind, w->bridge ? "bridge" : "tun");
}

/* One links_apply() run: the plan, what the kernel has, the batch being filled, the report. */
typedef struct LinksApply {
        struct nl_sock *sk;
        const NetConfig *c;
        gid_t tap_group;
        Want w;
        /* Taps come out of /dev/net/tun in netdev group 0; until phase 4 puts them in ours, only
         * this record tells them from a foreign link. */
        bool *created;
        LinkTable t;
        NlBatch b;
        LinkReport *report;
        char **ret_error;
} LinksApply;

static void links_apply_done(LinksApply *a) {
        a->w.links = mfree(a->w.links);
        a->created = mfree(a->created);
        link_table_done(&a->t);
        nl_batch_done(&a->b);
}

static int links_load_table(LinksApply *a) {
        int r;

        link_table_done(&a->t);
        r = link_table_load(a->sk, &a->t);
        if (r < 0 && a->ret_error)
                (void) asprintf(a->ret_error, "netlink dump: %s", strerror(-r));
        return r;
}

/* Sends what the phases before queued and empties the batch. */
static int links_run_batch(LinksApply *a) {
        int r;

        r = batch_run_checked(&a->b, a->ret_error);
        nl_batch_done(&a->b);
        return r;
}

/* Phase 1: ours that should not exist or have the wrong kind are removed. */
static int links_delete_stale(LinksApply *a) {
        int r;

        for (size_t i = 0; i < a->t.n_links; i++) {
                const LinkInfo *li = &a->t.links[i];
                const WantLink *wl;

                if (link_is_foreign(li))
                        continue;
                wl = want_find(&a->w, li->name);
                if (wl && link_kind_matches(li, wl))
                        continue;
                r = batch_delete_link(&a->b, li);
                if (r < 0)
                        return r;
                a->report->deleted++;
                report_line(&a->report->changes, "removed %s", li->name);
        }
        return 0;
}

/* Phase 2: missing bridges are created (in the same batch as phase 1's deletions); a name held by
 * a link that is not ours is a conflict. */
static int links_create_bridges(LinksApply *a) {
        int r;

        for (size_t i = 0; i < a->w.n_links; i++) {
                const WantLink *wl = &a->w.links[i];
                const LinkInfo *li = link_table_find(&a->t, wl->name);

                if (li && link_is_foreign(li)) {
                        report_line(&a->report->conflicts,
                                    "%s exists but was not created by this service (netdev group %u, kind %s)",
                                    li->name,
                                    li->group,
                                    li->kind[0] ? li->kind : "unknown");
                        continue;
                }
                if (li && link_kind_matches(li, wl))
                        continue;
                if (!wl->bridge)
                        continue;
                r = batch_create_bridge(&a->b, wl->name);
                if (r < 0)
                        return r;
                a->report->created++;
                report_line(&a->report->changes, "created %s", wl->name);
        }
        return 0;
}

/* Phase 3: taps come from /dev/net/tun, not netlink. Returns 1 when one was created. */
static int links_create_taps(LinksApply *a) {
        bool any = false;
        int r;

        for (size_t i = 0; i < a->w.n_links; i++) {
                const WantLink *wl = &a->w.links[i];
                const LinkInfo *li = link_table_find(&a->t, wl->name);

                if (wl->bridge || (li && (link_is_foreign(li) || link_kind_matches(li, wl))))
                        continue;
                r = tap_create(wl->name, a->tap_group);
                if (r < 0) {
                        if (a->ret_error)
                                (void) asprintf(a->ret_error,
                                                "create tap %s: %s%s",
                                                wl->name,
                                                strerror(-r),
                                                r == -ENOENT ? " (no /dev/net/tun: run 'modprobe tun')"
                                                             : "");
                        return r;
                }
                any = true;
                a->created[i] = true;
                a->report->created++;
                report_line(&a->report->changes, "created %s", wl->name);
        }
        return any;
}

/* Phase 4a: group, master and up for one wanted link. */
static int links_configure_link(LinksApply *a, size_t i, const LinkInfo *li) {
        const WantLink *wl = &a->w.links[i];
        const LinkInfo *master = NULL;
        int master_index = 0, r;

        if (wl->master) {
                master = link_table_find(&a->t, wl->master);
                /* Never enslave to a foreign link that squats on a managed bridge's name. */
                if (master && (!a->c->bridge_interface && link_is_foreign(master)))
                        master = NULL;
                master_index = master ? master->ifindex : 0;
        }

        if ((li->flags & IFF_UP) && li->group == NET_NETDEV_GROUP &&
            (master_index == 0 || li->master == master_index))
                return 0;
        r = batch_set_link(&a->b, li->name, li->ifindex, master_index);
        if (r < 0)
                return r;
        /* A tap created in this pass was already reported as created. */
        if (a->created[i])
                return 0;
        a->report->modified++;
        if (master_index > 0 && li->master != master_index)
                report_line(&a->report->changes, "attached %s to %s", li->name, wl->master);
        else
                report_line(&a->report->changes, "set %s up in group %u", li->name, NET_NETDEV_GROUP);
        return 0;
}

/* Phase 4b: the addresses the plan gives one wanted link. */
static int links_add_addresses(LinksApply *a, const WantLink *wl, const LinkInfo *li) {
        int r;

        for (int k = 0; k < wl->n_addrs; k++) {
                if (link_table_has_addr(
                                    &a->t,
                                    li->ifindex,
                                    wl->addrs[k].family,
                                    wl->addrs[k].addr,
                                    wl->addrs[k].prefixlen))
                        continue;
                r = batch_addr(&a->b,
                               RTM_NEWADDR,
                               li->name,
                               li->ifindex,
                               wl->addrs[k].family,
                               wl->addrs[k].addr,
                               wl->addrs[k].prefixlen,
                               wl->addrs[k].has_broadcast ? wl->addrs[k].broadcast : NULL);
                if (r < 0)
                        return r;
                a->report->addresses++;
                report_line(&a->report->changes, "%s", a->b.items[a->b.n_items - 1].what);
        }
        return 0;
}

/* Phase 4c: addresses on our links that the plan does not have (a changed IPv6 prefix, say). */
static int links_remove_stale_addresses(LinksApply *a) {
        int r;

        for (size_t i = 0; i < a->t.n_addrs; i++) {
                const AddrInfo *ai = &a->t.addrs[i];
                const LinkInfo *li = link_table_find_index(&a->t, ai->ifindex);
                const WantLink *wl;
                bool wanted = false;

                if (!li || link_is_foreign(li) || ai->scope != RT_SCOPE_UNIVERSE)
                        continue;
                wl = want_find(&a->w, li->name);
                if (!wl)
                        continue;
                for (int k = 0; k < wl->n_addrs; k++)
                        if (wl->addrs[k].family == ai->family && wl->addrs[k].prefixlen == ai->prefixlen &&
                            memcmp(wl->addrs[k].addr, ai->addr, ai->family == AF_INET ? 4 : 16) == 0)
                                wanted = true;
                if (wanted)
                        continue;
                r = batch_addr(&a->b,
                               RTM_DELADDR,
                               li->name,
                               li->ifindex,
                               ai->family,
                               ai->addr,
                               ai->prefixlen,
                               NULL);
                if (r < 0)
                        return r;
                a->report->addresses++;
                report_line(&a->report->changes, "%s", a->b.items[a->b.n_items - 1].what);
        }
        return 0;
}

/* Phase 4: group, master, up and addresses, in one batch. */
static int links_configure(LinksApply *a) {
        int r;

        for (size_t i = 0; i < a->w.n_links; i++) {
                const LinkInfo *li = link_table_find(&a->t, a->w.links[i].name);

                if (!li || (link_is_foreign(li) && !a->created[i]))
                        continue;
                r = links_configure_link(a, i, li);
                if (r < 0)
                        return r;
                r = links_add_addresses(a, &a->w.links[i], li);
                if (r < 0)
                        return r;
        }
        r = links_remove_stale_addresses(a);
        if (r < 0)
                return r;
        return links_run_batch(a);
}

int links_apply(struct nl_sock *sk,
                const NetConfig *c,
                gid_t tap_group,
                const bool *keep_slots,
                LinkReport *report,
                char **ret_error) {
        _cleanup_(links_apply_done) LinksApply a = {
                .sk = sk,
                .c = c,
                .tap_group = tap_group,
                .b = NL_BATCH_NULL(sk),
                .report = report,
                .ret_error = ret_error,
        };
        int r;

        r = want_build(c, keep_slots, &a.w);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "bad IPv6 prefix in configuration");
                return r;
        }
        a.created = calloc(MAX(a.w.n_links, (size_t) 1), sizeof(bool));
        if (!a.created)
                return -ENOMEM;
        r = links_load_table(&a);
        if (r < 0)
                return r;

        r = links_delete_stale(&a);
        if (r < 0)
                return r;
        r = links_create_bridges(&a);
        if (r < 0)
                return r;
        r = links_run_batch(&a);
        if (r < 0)
                return r;

        r = links_create_taps(&a);
        if (r < 0)
                return r;
        if (r > 0 || report->created > 0 || report->deleted > 0) {
                r = links_load_table(&a);
                if (r < 0)
                        return r;
        }

        return links_configure(&a);
}

static int links_group_delete(struct nl_sock *sk, uint32_t group, char **ret_error) {
        _cleanup_(nl_batch_done) NlBatch b = NL_BATCH_NULL(sk);
        struct nl_msg *msg;
        int r;

        /* ifindex 0 plus IFLA_GROUP: the kernel deletes every link in the group at once, with one
         * wait for the network stack instead of one per link. */
        msg = link_msg(RTM_DELLINK, 0, 0, 0, 0);
        if (!msg)
                return -ENOMEM;
        if (nla_put_u32(msg, IFLA_GROUP, group) < 0) {
                nlmsg_free(msg);
                return -ENOMEM;
        }
        r = nl_batch_add(&b, msg, "delete links in netdev group %u", group);
        if (r < 0)
                return r;

        r = batch_run_checked(&b, ret_error);
        if (r == -ENODEV) { /* nothing in that group: not an error, and no message */
                if (ret_error)
                        *ret_error = mfree(*ret_error);
                return 0;
        }
        return r;
}

int links_teardown(struct nl_sock *sk, char **ret_error) {
        int r;

        r = links_group_delete(sk, NET_NETDEV_GROUP, ret_error);
        if (r < 0)
                return r;
        return links_group_delete(sk, NET_NETDEV_GROUP_RECYCLE, ret_error);
}

int links_recycle(struct nl_sock *sk, char *const *names, size_t n_names) {
        _cleanup_(nl_batch_done) NlBatch b = NL_BATCH_NULL(sk);
        int r;

        for (size_t k = 0; k < n_names; k++) {
                struct nl_msg *down, *aside;
                char name[IFNAMSIZ];
                int ifindex = (int) if_nametoindex(names[k]);

                if (ifindex <= 0)
                        continue; /* gone already */
                /* Down and off its bridge first (a running link cannot be renamed), then out of the
                 * name's way and into the recycle group: the name is free for a new tap at once. */
                (void) snprintf(name, sizeof(name), "cvd-r%i", ifindex);
                down = link_msg(RTM_NEWLINK, 0, ifindex, 0, IFF_UP);
                if (!down)
                        return -ENOMEM;
                if (nla_put_u32(down, IFLA_MASTER, 0) < 0) {
                        nlmsg_free(down);
                        return -ENOMEM;
                }
                r = nl_batch_add(&b, down, "take %s down", names[k]);
                if (r < 0)
                        return r;
                aside = link_msg(RTM_NEWLINK, 0, ifindex, 0, 0);
                if (!aside)
                        return -ENOMEM;
                if (nla_put_string(aside, IFLA_IFNAME, name) < 0 ||
                    nla_put_u32(aside, IFLA_GROUP, NET_NETDEV_GROUP_RECYCLE) < 0) {
                        nlmsg_free(aside);
                        return -ENOMEM;
                }
                r = nl_batch_add(&b, aside, "recycle %s as %s", names[k], name);
                if (r < 0)
                        return r;
        }
        return batch_run_checked(&b, NULL);
}

int links_delete_recycled(struct nl_sock *sk, char **ret_error) {
        _cleanup_(nl_batch_done) NlBatch b = NL_BATCH_NULL(sk);
        _cleanup_(link_table_done) LinkTable t = {};
        const NlBatchItem *e;
        int r;

        /* One request per link, not one for the group: the kernel takes its rtnl lock per request,
         * and holds it through each deletion's wait, so the daemon's own requests (a tap given
         * back, a refill) get their turn between two deletions, not after all of them. */
        r = link_table_load(sk, &t);
        if (r < 0)
                return r;
        for (size_t k = 0; k < t.n_links; k++) {
                struct nl_msg *msg;

                if (t.links[k].group != NET_NETDEV_GROUP_RECYCLE)
                        continue;
                msg = link_msg(RTM_DELLINK, 0, t.links[k].ifindex, 0, 0);
                if (!msg)
                        return -ENOMEM;
                r = nl_batch_add(&b, msg, "delete %s", t.links[k].name);
                if (r < 0)
                        return r;
        }
        if (b.n_items == 0)
                return 0;
        r = nl_batch_run(&b);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "netlink: %s", strerror(-r));
                return r;
        }
        /* Gone meanwhile (a teardown) is no error. */
        e = nl_batch_first_error(&b);
        if (e && e->error != -ENODEV) {
                if (ret_error)
                        (void) asprintf(ret_error, "%s: %s", e->what, strerror(-e->error));
                return e->error;
        }
        return 0;
}
