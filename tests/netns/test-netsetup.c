/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netsetup against a real kernel: every case forks, enters a fresh network namespace (loopback
 * only), runs the netsetup functions and verifies with an rtnetlink dump. The namespace goes
 * away with the child, so nothing reaches the machine's own network. */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netsetup/links.h"
#include "netsetup/monitor.h"
#include "netsetup/tap.h"
#include "netsetup/nft.h"
#include "netsetup/nl.h"
#include "netsetup/sysctl.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

static struct nl_sock *sk;

static void config(NetConfig *c, unsigned n) {
        assert(net_config_init_defaults(c) == 0);
        c->n_slots = n;
}

static void apply(const NetConfig *c, LinkReport *rep) {
        _cleanup_free_ char *e = NULL;
        int r = links_apply(sk, c, (gid_t) -1, NULL, rep, &e);

        if (r < 0)
                fprintf(stderr, "links_apply: %s\n", strempty(e));
        assert(r == 0);
}

static size_t group_links(void) {
        _cleanup_(link_table_done) LinkTable t = {};

        assert(link_table_load(sk, &t) == 0);
        return link_table_count_group(&t, NET_NETDEV_GROUP);
}

/* Exactly the links of slots 1..n plus the two bridges, each configured as planned. */
static void check_plan(const NetConfig *c) {
        _cleanup_(link_table_done) LinkTable t = {};
        const LinkInfo *ebr, *wbr;

        assert(link_table_load(sk, &t) == 0);
        assert(link_table_count_group(&t, NET_NETDEV_GROUP) == 2 + 4 * c->n_slots);
        ebr = link_table_find(&t, "cvd-ebr");
        wbr = link_table_find(&t, "cvd-wbr");
        assert(ebr && streq(ebr->kind, "bridge") && (ebr->flags & IFF_UP));
        assert(wbr && streq(wbr->kind, "bridge"));
        assert(link_table_has_addr(&t, ebr->ifindex, AF_INET, &(struct in_addr){ htonl(0xc0a86201) }, 24));
        assert(link_table_has_addr(&t, wbr->ifindex, AF_INET, &(struct in_addr){ htonl(0xc0a86001) }, 24));

        for (unsigned slot = 1; slot <= NET_SLOTS_MAX; slot++)
                for (TapKind k = 0; k < _TAP_KIND_MAX; k++) {
                        char name[IFNAMSIZ];
                        const LinkInfo *li;
                        Ipv4Slash30 a;

                        (void) slot_tap_name(slot, k, name);
                        li = link_table_find(&t, name);
                        if (slot > c->n_slots) {
                                assert(!li);
                                continue;
                        }
                        assert(li);
                        assert(streq(li->kind, "tun"));
                        assert(li->group == NET_NETDEV_GROUP);
                        assert(li->flags & IFF_UP);
                        if (k == TAP_ETHERNET)
                                assert(li->master == ebr->ifindex);
                        if (k == TAP_WIFI)
                                assert(li->master == wbr->ifindex);
                        if (slot_tap_ipv4(c, slot, k, &a) >= 0)
                                assert(link_table_has_addr(&t, li->ifindex, AF_INET, &a.gateway, 30));
                }
}

static void test_apply_idempotent(void) {
        _cleanup_(link_report_done) LinkReport r1 = {}, r2 = {};
        NetConfig c;

        config(&c, 3);
        apply(&c, &r1);
        assert(r1.created == 14);
        check_plan(&c);
        apply(&c, &r2);
        assert(link_report_total(&r2) == 0);
        net_config_done(&c);
}

static void test_resize(void) {
        unsigned sizes[] = { 10, 20, 5 };
        NetConfig c;

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_(link_report_done) LinkReport r = {};

                config(&c, sizes[i]);
                apply(&c, &r);
                check_plan(&c);
                if (i == 2)
                        assert(r.deleted == 60);
                net_config_done(&c);
        }
}

static void test_teardown_spares_foreign(void) {
        _cleanup_(link_report_done) LinkReport r = {};
        _cleanup_(link_table_done) LinkTable t = {};
        NetConfig c;

        assert(system("ip link add foreign0 type veth peer name foreign1") == 0);
        config(&c, 4);
        apply(&c, &r);
        assert(links_teardown(sk, NULL) == 0);
        assert(group_links() == 0);
        assert(link_table_load(sk, &t) == 0);
        assert(link_table_find(&t, "foreign0") && link_table_find(&t, "foreign1"));
        /* Teardown with nothing left is not an error. */
        assert(links_teardown(sk, NULL) == 0);
        net_config_done(&c);
}

/* Taps given back: out of their names' way at once (down, off the bridge, renamed into the recycle
 * group), recreated by the next apply, deleted by the group. */
static void test_recycle(void) {
        _cleanup_(link_report_done) LinkReport r1 = {}, r2 = {};
        char *names[] = { (char *) "cvd-etap-01", (char *) "cvd-mtap-01" };
        NetConfig c;

        config(&c, 2);
        apply(&c, &r1);
        assert(links_recycle(sk, names, ELEMENTSOF(names)) == 0);
        {
                _cleanup_(link_table_done) LinkTable t = {};

                assert(link_table_load(sk, &t) == 0);
                assert(!link_table_find(&t, "cvd-etap-01") && !link_table_find(&t, "cvd-mtap-01"));
                assert(link_table_count_group(&t, NET_NETDEV_GROUP_RECYCLE) == 2);
                for (size_t k = 0; k < t.n_links; k++)
                        if (t.links[k].group == NET_NETDEV_GROUP_RECYCLE)
                                assert(strncmp(t.links[k].name, "cvd-r", 5) == 0 &&
                                       !(t.links[k].flags & IFF_UP) && t.links[k].master == 0);
        }
        apply(&c, &r2);
        assert(r2.created == 2);
        check_plan(&c);
        assert(links_delete_recycled(sk, NULL) == 0);
        {
                _cleanup_(link_table_done) LinkTable t = {};

                assert(link_table_load(sk, &t) == 0);
                assert(link_table_count_group(&t, NET_NETDEV_GROUP_RECYCLE) == 0);
        }
        check_plan(&c);
        net_config_done(&c);
}

/* Until the kernel's linkwatch has told of name's carrier (it does so late, up to a second):
 * bounded. */
static void wait_carrier(const char *name, bool on) {
        for (int tries = 0; tries < 300; tries++) {
                _cleanup_(link_table_done) LinkTable t = {};
                const LinkInfo *li;

                assert(link_table_load(sk, &t) == 0);
                li = link_table_find(&t, name);
                assert(li);
                if (!!(li->flags & (1u << 16)) == on) /* IFF_LOWER_UP (linux/if.h clashes with net/if.h) */
                        return;
                (void) usleep(10 * 1000); /* a bounded poll of the kernel's state, not a wait for us */
        }
        assert(!"carrier never changed");
}

/* The daemon's filter says that: the tap of a slot an instance holds. */
static bool not_this(const char *name, void *userdata) {
        return !streq(name, userdata);
}

/* What starts a reconcile: a change of ours that someone undid; not taps given back going away,
 * their addresses with them, nor a change the filter says is a VMM's. */
static void test_monitor(void) {
        _cleanup_(link_report_done) LinkReport r = {};
        char *names[] = { (char *) "cvd-mtap-01", (char *) "cvd-wifiap-01" };
        NetMonitor *m = NULL;
        NetConfig c;
        int fd = -1;

        config(&c, 2);
        assert(net_monitor_new(&m) == 0);
        apply(&c, &r);
        (void) net_monitor_drain(m, NULL, NULL);

        /* A VMM attaching to its tap and going away (features, carrier): its own business. (A tap
         * on no bridge: a bridge's own carrier change is not filtered.) */
        assert(tap_open("cvd-mtap-02", &fd) == 0);
        wait_carrier("cvd-mtap-02", true);
        assert(net_monitor_drain(m, not_this, (void *) "cvd-mtap-02") == 0);
        close(fd);
        wait_carrier("cvd-mtap-02", false);
        assert(net_monitor_drain(m, not_this, (void *) "cvd-mtap-02") == 0);

        assert(links_recycle(sk, names, ELEMENTSOF(names)) == 0);
        (void) net_monitor_drain(m, NULL, NULL); /* (our own change: the daemon discards these) */
        assert(links_delete_recycled(sk, NULL) == 0);
        /* (Filtered as above: linkwatch may still be telling of cvd-mtap-02's carrier.) */
        assert(net_monitor_drain(m, not_this, (void *) "cvd-mtap-02") == 0);

        assert(system("ip link set cvd-mtap-02 mtu 1400") == 0);
        assert(net_monitor_drain(m, not_this, (void *) "cvd-mtap-02") == 0);
        assert(system("ip link set cvd-mtap-02 mtu 1300") == 0);
        assert(net_monitor_drain(m, NULL, NULL) == 1);
        assert(system("ip link delete cvd-mtap-02") == 0);
        assert(net_monitor_drain(m, not_this, (void *) "cvd-mtap-02") == 1); /* a deletion always matters */
        net_monitor_free(m);
        net_config_done(&c);
}

static void test_conflict_untouched(void) {
        _cleanup_(link_report_done) LinkReport r = {};
        _cleanup_(link_table_done) LinkTable t = {};
        const LinkInfo *li;
        NetConfig c;

        assert(system("ip link add cvd-wtap-01 type veth peer name squat1") == 0);
        config(&c, 2);
        apply(&c, &r);
        assert(strv_length(r.conflicts) == 1);
        assert(strncmp(r.conflicts[0], "cvd-wtap-01 exists", 18) == 0);
        assert(link_table_load(sk, &t) == 0);
        li = link_table_find(&t, "cvd-wtap-01");
        assert(li && streq(li->kind, "veth") && li->master == 0 && li->group == 0);
        net_config_done(&c);
}

static void test_250_slots(void) {
        _cleanup_(link_report_done) LinkReport r = {};
        NetConfig c;

        config(&c, 250);
        c.n_mobile_pools = c.n_wifiap_pools = 4;
        c.mobile_pools[2].s_addr = htonl(0xc0a85a00); /* 192.168.90.0 */
        c.mobile_pools[3].s_addr = htonl(0xc0a85b00); /* 192.168.91.0 */
        c.wifiap_pools[2].s_addr = htonl(0xc0a85800); /* 192.168.88.0 */
        c.wifiap_pools[3].s_addr = htonl(0xc0a85900); /* 192.168.89.0 */
        apply(&c, &r);
        check_plan(&c);
        assert(links_teardown(sk, NULL) == 0);
        assert(group_links() == 0);
        net_config_done(&c);
}

static void test_nft(void) {
        _cleanup_free_ char *e = NULL;
        NetConfig c;

        config(&c, 3);
        assert(nft_table_present() == 0);
        assert(nft_apply(&c, &e) == 0);
        assert(nft_table_present() == 1);
        int rules = nft_count_rules();
        assert(rules == 3);
        /* Replaced, not added to. */
        assert(nft_apply(&c, &e) == 0);
        assert(nft_count_rules() == rules);
        assert(nft_remove(&e) == 0);
        assert(nft_table_present() == 0);
        assert(nft_remove(&e) == 0);
        c.firewall = FIREWALL_NONE;
        assert(nft_apply(&c, &e) == 0);
        assert(nft_table_present() == 0);
        net_config_done(&c);
}

static void test_sysctl_restore(void) {
        char path[] = "/tmp/test-sysctl-XXXXXX";
        _cleanup_free_ char *v = NULL, *saved = NULL;
        int fd = mkstemp(path);
        NetConfig c;

        assert(fd >= 0);
        close(fd);
        unlink(path);
        assert(sysctl_write("net/ipv4/ip_forward", "0") == 0);
        config(&c, 1);
        assert(sysctl_apply(&c, path, NULL) == 0);
        assert(sysctl_read("net/ipv4/ip_forward", &v) == 0 && streq(v, "1"));
        assert(read_full_file(path, &saved, NULL) == 0 && strstr(saved, "net/ipv4/ip_forward=0"));
        assert(sysctl_restore(path) == 0);
        v = mfree(v);
        assert(sysctl_read("net/ipv4/ip_forward", &v) == 0 && streq(v, "0"));
        assert(access(path, F_OK) < 0);
        net_config_done(&c);
}

static int run_case(const char *name, void (*fn)(void)) {
        pid_t pid = fork();
        int status;

        assert(pid >= 0);
        if (pid == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(EXIT_TEST_SKIP);
                assert(nl_route_open(&sk) == 0);
                fn();
                _exit(EXIT_SUCCESS);
        }
        assert(waitpid(pid, &status, 0) == pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEST_SKIP) {
                printf("SKIP %s (no permission to create a network namespace)\n", name);
                return EXIT_TEST_SKIP;
        }
        printf("%s %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAIL", name);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void) {
        static const struct {
                const char *name;
                void (*fn)(void);
        } cases[] = {
                { "apply twice changes nothing", test_apply_idempotent },
                { "10 -> 20 -> 5 slots", test_resize },
                { "teardown spares foreign links", test_teardown_spares_foreign },
                { "a squatter on our name is reported, not touched", test_conflict_untouched },
                { "taps given back: renamed aside, recreated, deleted", test_recycle },
                { "link events that are no drift", test_monitor },
                { "250 slots with four pools", test_250_slots },
                { "nft table replaced atomically and removed", test_nft },
                { "sysctls restored", test_sysctl_restore },
        };
        int failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int r = run_case(cases[i].name, cases[i].fn);
                if (r == EXIT_TEST_SKIP)
                        return EXIT_TEST_SKIP;
                failed += r;
        }
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
