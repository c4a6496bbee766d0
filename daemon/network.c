/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <grp.h>
#include <net/if.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/constants.h"
#include "common/fs-util.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"
#include "common/time-util.h"
#include "daemon/network-describe.h"
#include "daemon/network.h"
#include "common/string-table.h"
#include "netsetup/dnsmasq.h"
#include "netsetup/links.h"
#include "netsetup/monitor.h"
#include "netsetup/nft.h"
#include "netsetup/nl.h"
#include "netsetup/probe.h"
#include "netsetup/sysctl.h"

#define RECONCILE_DELAY_USEC (100 * USEC_PER_MSEC)
#define RECYCLE_DELETE_DELAY_USEC (1 * USEC_PER_SEC)
#define REFILL_DELAY_USEC (1 * USEC_PER_SEC)
#define PERIODIC_CHECK_USEC (10 * USEC_PER_SEC)

static const char *const network_state_table[_NETWORK_STATE_MAX] = {
        [NETWORK_DOWN] = "down",         [NETWORK_CONFIGURING] = "configuring", [NETWORK_UP] = "up",
        [NETWORK_DEGRADED] = "degraded", [NETWORK_FAILED] = "failed",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(network_state, NetworkState);

static void network_set_state(Network *n, NetworkState s) {
        if (n->state == s)
                return;
        log_debug("Network state %s -> %s", network_state_to_string(n->state), network_state_to_string(s));
        n->state = s;
        if (n->on_changed)
                n->on_changed(n, n->userdata);
}

static void network_set_error(Network *n, const char *e) {
        free(n->error);
        n->error = e ? strdup(e) : NULL;
}

static int network_open_nl(Network *n) {
        if (n->nl)
                return 0;
        return nl_route_open(&n->nl);
}

/* The link events our own changes just caused are queued on the monitor by the time the request
 * returns: they are no drift, and must not start another reconcile. */
static void network_discard_own_events(Network *n) {
        if (n->monitor)
                (void) net_monitor_drain(n->monitor, NULL, NULL);
}

/* A tap of a slot an instance holds is its VMM's business (QEMU sets its offloads, the owner
 * changes when it starts): changes to it are no drift, only its deletion is. */
static bool network_link_matters(const char *name, void *userdata) {
        Network *n = userdata;
        unsigned slot;

        return !(slot_parse_tap_name(name, &slot, NULL) > 0 && slot >= 1 && slot <= NET_SLOTS_MAX &&
                 n->busy_slots[slot]);
}

void network_set_slot_busy(Network *n, unsigned slot, bool busy) {
        if (slot >= 1 && slot <= NET_SLOTS_MAX)
                n->busy_slots[slot] = busy;
}

/* Changes in progress */

static bool network_dnsmasq_stopping(const Network *n) {
        for (size_t i = 0; i < NET_BRIDGES; i++)
                if (dnsmasq_child_stopping(&n->dnsmasq[i]))
                        return true;
        return false;
}

static NetworkState network_up_state(const Network *n) {
        return n->conflicts && n->conflicts[0] ? NETWORK_DEGRADED : NETWORK_UP;
}

int network_call_when_done(Network *n, NetworkDoneFn done, void *userdata) {
        NetworkWaiter *w;

        if (n->pending == NETWORK_OP_NONE)
                return 0;
        w = reallocarray(n->waiters, n->n_waiters + 1, sizeof(NetworkWaiter));
        if (!w)
                return -ENOMEM;
        n->waiters = w;
        n->waiters[n->n_waiters++] = (NetworkWaiter){ .done = done, .userdata = userdata };
        return 1;
}

static void network_notify_waiters(Network *n, int r) {
        _cleanup_free_ NetworkWaiter *w = TAKE_PTR(n->waiters);
        size_t k = n->n_waiters;

        n->n_waiters = 0;
        for (size_t i = 0; i < k; i++)
                w[i].done(r, r < 0 ? n->error : NULL, w[i].userdata);
}

/* op has reached its end (r: its result): the end state, and whoever waited is told. */
static void network_end(Network *n, NetworkOp op, int r) {
        switch (op) {
        case NETWORK_OP_SETUP:
        case NETWORK_OP_RECONCILE:
                network_set_state(n, r < 0 ? NETWORK_FAILED : network_up_state(n));
                break;
        case NETWORK_OP_TEARDOWN:
                network_set_state(n, r < 0 ? NETWORK_FAILED : NETWORK_DOWN);
                if (r >= 0)
                        log_info("Network down: all links, tables and dnsmasq processes of this service removed.");
                break;
        case NETWORK_OP_NONE:
        case _NETWORK_OP_MAX:
        case _NETWORK_OP_INVALID:
                break;
        }
        network_notify_waiters(n, r);
        if (n->reconcile_after) {
                n->reconcile_after = false;
                network_queue_reconcile(n);
        }
}

/* op did what it does at once (r): it ends now, or, while a dnsmasq is being stopped (a new one
 * for the same bridge is spawned only once the old one is gone), when the last stop ends. */
static int network_finish(Network *n, NetworkOp op, int r) {
        if (r >= 0 && network_dnsmasq_stopping(n)) {
                n->pending = op;
                return 1;
        }
        n->pending = NETWORK_OP_NONE;
        network_end(n, op, r);
        return r;
}

static void network_begin(Network *n) {
        n->pending_error = 0;
}

static void on_dnsmasq_idle(DnsmasqChild *d, int r, void *userdata) {
        Network *n = userdata;
        NetworkOp op = n->pending;

        if (r < 0 && n->pending_error == 0)
                n->pending_error = r;
        if (op == NETWORK_OP_NONE || network_dnsmasq_stopping(n))
                return;

        r = n->pending_error;
        n->pending = NETWORK_OP_NONE;
        n->pending_error = 0;
        if (r < 0)
                network_set_error(n, "dnsmasq could not be started");
        network_end(n, op, r);
}

/* Apply */

/* Is name held by a link that is not ours (a conflict of the last apply)? */
static bool network_name_conflicts(Network *n, const char *name) {
        size_t len = strlen(name);

        STRV_FOREACH (s, n->conflicts)
                if (strncmp(*s, name, len) == 0 && (*s)[len] == ' ')
                        return true;
        return false;
}

/* Starts, restarts or stops the dnsmasq children to match the applied plan. */
static int network_sync_dnsmasq(Network *n, bool config_changed) {
        BridgePlan bridges[NET_BRIDGES];
        int r, ret = 0;

        net_config_bridges(&n->applied, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                DnsmasqChild *d = &n->dnsmasq[i];
                /* A foreign link on the bridge's name gets no DHCP server from us. */
                bool want = bridges[i].managed && !network_name_conflicts(n, bridges[i].name);

                /* Same slot, other bridge (bridge_interface toggled by a reload): stop the old. */
                if (d->bridge[0] && (!want || !streq(d->bridge, bridges[i].name)))
                        dnsmasq_child_detach(d);
                if (!want)
                        continue;

                if (!d->bridge[0])
                        dnsmasq_child_attach(d, bridges[i].name);
                d->wanted = true;

                /* A recreated bridge or a changed config needs a fresh dnsmasq. */
                if (d->pid > 0 && (config_changed || d->bridge_ifindex != (int) if_nametoindex(d->bridge)))
                        dnsmasq_child_restart(d);
                /* (While the old one is being stopped, this writes the config; the spawn follows.) */
                if (d->pid == 0 && !d->restart_source) {
                        r = dnsmasq_child_start(d);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        }
        return ret;
}

static char *sysctl_saved_path(Network *n) {
        return path_join(n->runtime_dir, "sysctl.saved");
}

static bool dnsmasq_config_differs(const NetConfig *a, const NetConfig *b) {
        BridgePlan ba[NET_BRIDGES], bb[NET_BRIDGES];
        bool differ = false;

        net_config_bridges(a, ba);
        net_config_bridges(b, bb);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                _cleanup_free_ char *x = NULL, *y = NULL;

                if (ba[i].managed != bb[i].managed)
                        return true;
                if (!ba[i].managed)
                        continue;
                if (dnsmasq_config_build(a, &ba[i], "", &x) < 0 ||
                    dnsmasq_config_build(b, &bb[i], "", &y) < 0)
                        return true;
                differ = differ || !streq(x, y);
        }
        return differ;
}

/* The plan c becomes the applied one; taps instances gave back are deleted. */
static int network_apply_prepare(Network *n, const NetConfig *c, bool *ret_config_changed) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = network_open_nl(n);
        if (r < 0) {
                network_set_error(n, "cannot open an rtnetlink socket");
                return log_error_errno(r, "Failed to open rtnetlink socket: %m");
        }
        /* Taps instances gave back are out of the way of the names links_apply() creates; a
         * child deletes them (network_delete_recycled()). Only the first apply after start deletes
         * here: an older daemon left them under the pool's names. */
        if (!n->have_applied) {
                r = links_delete_recycled(n->nl, &error);
                if (r < 0)
                        log_warning_errno(r, "Failed to delete recycled taps: %s", strempty(error));
        }

        *ret_config_changed = n->have_applied && dnsmasq_config_differs(&n->applied, c);
        if (c != &n->applied) {
                NetConfig copy;

                r = net_config_copy(c, &copy);
                if (r < 0)
                        return r;
                net_config_done(&n->applied);
                n->applied = copy;
                n->have_applied = true;
        }
        return 0;
}

/* Links of the plan; slots an instance still holds stay, even past num_cvd_accounts, until it is
 * removed. repair: what changed is logged as drift. */
static int network_apply_links(Network *n, bool repair, LinkReport *report) {
        _cleanup_free_ char *error = NULL;
        bool drift;
        int r;

        r = links_apply(n->nl, &n->applied, n->tap_group, n->busy_slots, report, &error);
        if (r < 0) {
                network_set_error(n, error ?: "failed to configure links");
                return log_error_errno(r, "Failed to configure links: %s", strempty(error));
        }

        /* Taps an instance gave back are recreated here on purpose: not drift. */
        drift = repair && !n->refill;
        n->refill = false;
        STRV_FOREACH (s, report->changes)
                log_full(drift ? LOG_WARNING : LOG_DEBUG, "%s%s", drift ? "Repaired drift: " : "", *s);
        if (drift && link_report_total(report) > 0)
                n->repairs++;
        strv_free(n->conflicts);
        n->conflicts = TAKE_PTR(report->conflicts);
        STRV_FOREACH (s, n->conflicts)
                log_warning("Conflict: %s. Remove it ('ip link delete %.*s') or stop the tool that made it, "
                            "then run 'cfctl network up'.",
                            *s,
                            (int) strcspn(*s, " "),
                            *s);
        return 0;
}

static int network_apply_sysctls(Network *n) {
        _cleanup_free_ char *error = NULL, *saved = NULL;
        int r;

        saved = n->applied.restore_sysctls ? sysctl_saved_path(n) : NULL;
        r = sysctl_apply(&n->applied, saved, &error);
        if (r < 0) {
                network_set_error(n, error);
                return log_error_errno(r, "Failed to set sysctls: %s", strempty(error));
        }
        return 0;
}

static int network_apply_nft(Network *n) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = nft_apply(&n->applied, &error);
        if (r < 0) {
                network_set_error(n, error);
                return log_error_errno(r, "Failed to apply nftables ruleset: %s", strempty(error));
        }
        if (r > 0 && !n->bridge_filter_drop)
                log_warning("This nftables cannot express \"meta broute\" (needs 1.0.8): IP of the taps is "
                            "dropped on %s instead of being handed to the host to route.",
                            n->applied.bridge_interface);
        n->bridge_filter_drop = r > 0;
        return 0;
}

/* One pass: links, sysctls, dnsmasq, nftables. repair: log what changed as drift. A dnsmasq that
 * replaces one being stopped is spawned later (network_finish()). */
static int network_apply(Network *n, const NetConfig *c, bool repair) {
        _cleanup_(link_report_done) LinkReport report = {};
        uint64_t t0 = now_usec(CLOCK_MONOTONIC), t_links, t_sysctl, t_nft;
        bool config_changed;
        int r;

        r = network_apply_prepare(n, c, &config_changed);
        if (r < 0)
                return r;
        r = network_apply_links(n, repair, &report);
        network_discard_own_events(n);
        if (r < 0)
                return r;
        t_links = now_usec(CLOCK_MONOTONIC);
        r = network_apply_sysctls(n);
        if (r < 0)
                return r;

        /* dnsmasq follows the links, whatever the firewall does next: a bridge removed by a reload
         * must not keep a dnsmasq bound to it because the nft transaction failed. */
        t_sysctl = now_usec(CLOCK_MONOTONIC);
        r = network_sync_dnsmasq(n, config_changed);
        if (r < 0) {
                network_set_error(n, "dnsmasq could not be started");
                return r;
        }

        t_nft = now_usec(CLOCK_MONOTONIC);
        r = network_apply_nft(n);
        if (r < 0)
                return r;

        network_set_error(n, NULL);
        log_debug("Apply took %llu us: links %llu, sysctls %llu, dnsmasq %llu, nftables %llu.",
                  (unsigned long long) (now_usec(CLOCK_MONOTONIC) - t0),
                  (unsigned long long) (t_links - t0),
                  (unsigned long long) (t_sysctl - t_links),
                  (unsigned long long) (t_nft - t_sysctl),
                  (unsigned long long) (now_usec(CLOCK_MONOTONIC) - t_nft));
        if (!repair)
                log_info("Network up: %u slots, %u links created, %u removed, %u changed, %u address changes.",
                         n->applied.n_slots,
                         report.created,
                         report.deleted,
                         report.modified,
                         report.addresses);
        /* A reconcile of hundreds of links builds megabytes of link tables, netlink messages and
         * nftables script that are freed now; where they sat below longer-lived allocations the
         * heap keeps them resident. Give them back (glibc). */
        if (link_report_total(&report) > 0)
                (void) malloc_trim(0);
        return 0;
}

/* Reconcile */

/* Only what taps given back need to come back as the pool's: their links (created, on their
 * bridge, addressed) and their sysctls. No nftables or dnsmasq pass: nothing there changed. */
static int network_refill(Network *n) {
        _cleanup_(link_report_done) LinkReport report = {};
        int r;

        r = network_open_nl(n);
        if (r < 0)
                return r;
        r = network_apply_links(n, true, &report);
        network_discard_own_events(n);
        if (r < 0)
                return r;
        return network_apply_sysctls(n);
}

static int on_reconcile(sd_event_source *s, uint64_t usec, void *userdata) {
        Network *n = userdata;
        bool refill_only = n->refill && !n->drift_queued;
        int r;

        n->reconcile_source = sd_event_source_disable_unref(n->reconcile_source);
        n->drift_queued = false;
        if (n->pending == NETWORK_OP_SETUP || n->pending == NETWORK_OP_TEARDOWN) {
                /* Not at its end state yet: look again once it is. */
                n->reconcile_after = true;
                return 0;
        }
        if (n->state != NETWORK_UP && n->state != NETWORK_DEGRADED)
                return 0;

        network_begin(n);
        r = refill_only ? network_refill(n) : network_apply(n, &n->applied, true);
        (void) network_finish(n, NETWORK_OP_RECONCILE, r);
        return 0;
}

static void network_delete_recycled(Network *n);

static int on_recycled_deleted(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Network *n = userdata;

        n->recycle_source = sd_event_source_disable_unref(n->recycle_source);
        network_discard_own_events(n); /* (the child's deletions) */
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("Could not delete the taps instances gave back (see above); the next "
                            "start or 'cfctl network down' does.");
        if (n->recycle_again) {
                n->recycle_again = false;
                network_delete_recycled(n);
        }
        return 0;
}

static int on_recycle_delay(sd_event_source *s, uint64_t usec, void *userdata) {
        Network *n = userdata;

        n->recycle_timer = sd_event_source_disable_unref(n->recycle_timer);
        network_delete_recycled(n);
        return 0;
}

/* Each deletion holds the kernel's rtnl lock through its wait, and a netlink change of ours (the
 * next Remove's rename, a refill) queues behind it: taps given back within a second are deleted
 * by one child, a second later. */
static void network_schedule_delete_recycled(Network *n) {
        int r;

        if (n->recycle_timer)
                return;
        r = sd_event_add_time_relative(
                        n->event,
                        &n->recycle_timer,
                        CLOCK_MONOTONIC,
                        RECYCLE_DELETE_DELAY_USEC,
                        100 * USEC_PER_MSEC,
                        on_recycle_delay,
                        n);
        if (r < 0)
                network_delete_recycled(n);
}

/* Deleting links waits for the network stack (tens of ms per request): a child of its own does
 * it, so the event loop never waits. One at a time; what is recycled meanwhile goes next. */
static void network_delete_recycled(Network *n) {
        _cleanup_free_ char *error = NULL;
        struct nl_sock *nl = NULL;
        pid_t pid;
        int r;

        if (n->recycle_source) {
                n->recycle_again = true;
                return;
        }
        r = safe_fork("tap deleter", FORK_CLOSE_ALL_FDS | FORK_LOG, &pid);
        if (r == 0) {
                r = nl_route_open(&nl);
                if (r >= 0)
                        r = links_delete_recycled(nl, &error);
                if (r < 0)
                        log_error_errno(r, "Failed to delete recycled taps: %s", strempty(error));
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        if (r >= 0)
                r = sd_event_add_child(n->event, &n->recycle_source, pid, WEXITED, on_recycled_deleted, n);
        if (r < 0)
                log_warning_errno(r, "Cannot delete recycled taps now (%m); the next start does.");
}

int network_recycle_taps(Network *n, char *const *names, size_t n_names) {
        int r;

        r = network_open_nl(n);
        if (r < 0)
                return r;
        r = links_recycle(n->nl, names, n_names);
        network_discard_own_events(n);
        if (r < 0)
                return r;
        network_schedule_delete_recycled(n);
        network_queue_refill(n);
        return 0;
}

/* Only the taps: a slot given back is usable at once, and the queued reconcile still does the
 * rest later. */
void network_flush_refill(Network *n) {
        if (!n->refill || n->pending != NETWORK_OP_NONE ||
            (n->state != NETWORK_UP && n->state != NETWORK_DEGRADED))
                return;
        (void) network_refill(n);
}

static void network_queue(Network *n, uint64_t delay_usec) {
        uint64_t now_, when;
        int r;

        if (n->reconcile_source) {
                /* Drift is repaired soon, even when a (later) refill was queued first. */
                if (sd_event_now(n->event, CLOCK_MONOTONIC, &now_) >= 0 &&
                    sd_event_source_get_time(n->reconcile_source, &when) >= 0 && when > now_ + delay_usec)
                        (void) sd_event_source_set_time(n->reconcile_source, now_ + delay_usec);
                return;
        }
        r = sd_event_add_time_relative(
                        n->event, &n->reconcile_source, CLOCK_MONOTONIC, delay_usec, 0, on_reconcile, n);
        if (r < 0)
                log_error_errno(r, "Failed to queue reconcile: %m");
}

/* Taps given back within a second come back in one pass (a CreateInstance does not wait for it:
 * network_flush_refill()). */
void network_queue_refill(Network *n) {
        n->refill = true;
        network_queue(n, REFILL_DELAY_USEC);
}

void network_queue_reconcile(Network *n) {
        n->drift_queued = true;
        network_queue(n, RECONCILE_DELAY_USEC);
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Network *n = userdata;
        int r;

        r = net_monitor_drain(n->monitor, network_link_matters, n);
        if (r < 0)
                log_debug_errno(r, "Reading link events failed: %m");
        if (r != 0 && (n->state == NETWORK_UP || n->state == NETWORK_DEGRADED))
                network_queue_reconcile(n);
        else if (r != 0 && n->pending == NETWORK_OP_SETUP)
                n->reconcile_after = true;
        return 0;
}

/* Changes that no link event announces: our nft table removed by hand. */
static int on_periodic(sd_event_source *s, uint64_t usec, void *userdata) {
        Network *n = userdata;

        (void) sd_event_source_set_time_relative(s, PERIODIC_CHECK_USEC);
        if ((n->state == NETWORK_UP || n->state == NETWORK_DEGRADED) &&
            n->applied.firewall == FIREWALL_NFTABLES && nft_table_present() == 0) {
                log_warning("nftables table inet %s disappeared; restoring it.", NET_TABLE_NAME);
                network_queue_reconcile(n);
        }
        return 0;
}

static gid_t lookup_tap_group(void) {
        struct group *g = getgrnam(CF_GROUP);

        if (!g) {
                log_warning("Group '%s' does not exist: taps are created without a group, so only root "
                            "can attach to them. Create it with 'groupadd --system %s'.",
                            CF_GROUP,
                            CF_GROUP);
                return (gid_t) -1;
        }
        return g->gr_gid;
}

int network_new(sd_event *event,
                const char *runtime_dir,
                const char *state_dir,
                NetworkChangedFn on_changed,
                void *userdata,
                Network **ret) {
        _cleanup_(network_freep) Network *n = NULL;
        int r;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(event);
        n->on_changed = on_changed;
        n->userdata = userdata;
        n->state = NETWORK_DOWN;
        n->runtime_dir = strdup(runtime_dir);
        n->state_dir = strdup(state_dir);
        if (!n->runtime_dir || !n->state_dir)
                return -ENOMEM;
        n->tap_group = lookup_tap_group();
        n->dnsmasq_env = (DnsmasqEnv){
                .event = n->event,
                .runtime_dir = n->runtime_dir,
                .state_dir = n->state_dir,
                .plan = &n->applied,
                .on_idle = on_dnsmasq_idle,
                .userdata = n,
        };
        for (size_t i = 0; i < NET_BRIDGES; i++)
                dnsmasq_child_init(&n->dnsmasq[i], &n->dnsmasq_env);

        r = net_monitor_new(&n->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to link events: %m");
        r = sd_event_add_io(event, &n->monitor_source, net_monitor_fd(n->monitor), EPOLLIN, on_monitor, n);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(
                        event, &n->periodic_source, CLOCK_MONOTONIC, PERIODIC_CHECK_USEC, 0, on_periodic, n);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(n->periodic_source, SD_EVENT_ON);

        *ret = TAKE_PTR(n);
        return 0;
}

Network *network_free(Network *n) {
        if (!n)
                return NULL;
        /* The exit path: no callbacks from here on but the waiters' (their messages are freed). */
        n->on_changed = NULL;
        n->dnsmasq_env.on_idle = NULL;
        for (size_t i = 0; i < NET_BRIDGES; i++)
                dnsmasq_child_done(&n->dnsmasq[i]);
        network_notify_waiters(n, -ECANCELED);
        sd_event_source_disable_unref(n->monitor_source);
        sd_event_source_disable_unref(n->reconcile_source);
        sd_event_source_disable_unref(n->periodic_source);
        sd_event_source_disable_unref(n->recycle_source); /* (the child finishes on its own) */
        sd_event_source_disable_unref(n->recycle_timer);
        net_monitor_free(n->monitor);
        nl_socket_free(n->nl);
        net_config_done(&n->applied);
        strv_free(n->conflicts);
        free(n->dnsmasq_env.exe);
        free(n->error);
        free(n->runtime_dir);
        free(n->state_dir);
        sd_event_unref(n->event);
        return mfree(n);
}

/* A route of someone else's on one of our subnets: adding our address would put a second route
 * beside it, and whichever wins, the host or the guests lose that subnet. Refuse, name it. */
static int network_check_routes(Network *n, const NetConfig *c) {
        _cleanup_(host_issues_done) HostIssues l = {};
        int r;

        r = network_open_nl(n);
        if (r < 0)
                return r;
        r = probe_route_overlaps(n->nl, c, &l);
        if (r < 0) {
                log_warning_errno(r, "Could not check routes for overlaps: %m");
                return 0;
        }
        for (size_t i = 0; i < l.n; i++)
                log_error("Refusing to set up the network: %s (fix: %s).",
                          l.items[i].detail,
                          l.items[i].fix);
        if (l.n == 0)
                return 0;
        network_set_error(n, l.items[0].detail);
        return -EADDRINUSE;
}

int network_setup(Network *n, const NetConfig *c) {
        int r;

        network_begin(n);
        network_set_state(n, NETWORK_CONFIGURING);
        r = network_check_routes(n, c);
        if (r >= 0)
                r = network_apply(n, c, false);
        return network_finish(n, NETWORK_OP_SETUP, r);
}

int network_teardown(Network *n) {
        _cleanup_free_ char *error = NULL, *saved = NULL;
        int r, ret = 0;

        n->reconcile_source = sd_event_source_disable_unref(n->reconcile_source);
        network_begin(n);
        network_set_state(n, NETWORK_CONFIGURING);

        /* SIGTERM: they are gone by the time the state says "down" (network_finish()). */
        for (size_t i = 0; i < NET_BRIDGES; i++)
                if (n->dnsmasq[i].bridge[0])
                        dnsmasq_child_detach(&n->dnsmasq[i]);

        r = nft_remove(&error);
        if (r < 0) {
                log_error("Failed to remove nftables tables: %s", strempty(error));
                ret = r;
        }

        if (network_open_nl(n) < 0)
                return log_error_errno(-EIO, "Failed to open rtnetlink socket.");
        error = mfree(error);
        r = links_teardown(n->nl, &error);
        if (r < 0) {
                log_error("Failed to remove links: %s", strempty(error));
                ret = r;
        }

        saved = sysctl_saved_path(n);
        if (saved) {
                r = sysctl_restore(saved);
                if (r < 0)
                        log_warning_errno(r, "Failed to restore sysctls: %m");
        }

        n->conflicts = strv_free(n->conflicts);
        network_set_error(n, ret < 0 ? "teardown incomplete" : NULL);
        return network_finish(n, NETWORK_OP_TEARDOWN, ret);
}

bool network_is_down(const Network *n) {
        return n->state == NETWORK_DOWN || n->pending == NETWORK_OP_TEARDOWN;
}

int network_teardown_at_exit(Network *n) {
        int r;

        r = network_teardown(n);
        if (r <= 0)
                return r;
        /* The event loop is finished: wait here, bounded, so the state is final ("down") when the
         * daemon says it stops. The only blocking wait of the network code, on the exit path. */
        for (size_t i = 0; i < NET_BRIDGES; i++)
                dnsmasq_child_finish_stop(&n->dnsmasq[i]);
        return 0;
}

int network_host_issues(Network *n, const NetConfig *configured, HostIssues *l) {
        const NetConfig *c = n->have_applied ? &n->applied : configured;
        int r;

        if (network_open_nl(n) < 0)
                return -EIO;
        r = probe_route_overlaps(n->nl, c, l);
        if (r < 0)
                log_debug_errno(r, "Route overlap check failed: %m");
        r = probe_forward_drop(l);
        if (r < 0)
                log_debug_errno(r, "Forward chain check failed: %m");
        r = probe_network_manager(l);
        if (r < 0)
                log_debug_errno(r, "NetworkManager check failed: %m");
        return 0;
}

/* The I/O DescribeNetwork() needs (the kernel's links, the nft table, the lease files); the JSON
 * itself is network_describe_build()'s. */
int network_describe(Network *n, const NetConfig *configured, struct json_object **ret) {
        _cleanup_(link_table_done) LinkTable t = {};
        const NetConfig *c = n->have_applied ? &n->applied : configured;
        char *conf[NET_BRIDGES] = {}, *lease_file[NET_BRIDGES] = {};
        DnsmasqLease *leases[NET_BRIDGES] = {};
        BridgePlan bridges[NET_BRIDGES];
        NetworkDescribeInput in = {
                .state = n->state,
                .error = n->error,
                .config = c,
                .bridge_filter_drop = n->bridge_filter_drop,
                .repairs = n->repairs,
                .conflicts = n->conflicts,
        };
        int r;

        if (network_open_nl(n) < 0)
                return -EIO;
        if (link_table_load(n->nl, &t) >= 0)
                in.links = &t;
        in.nft_table_present = c->firewall == FIREWALL_NFTABLES && nft_table_present() > 0;

        net_config_bridges(c, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                const DnsmasqChild *d = &n->dnsmasq[i];
                NetworkDescribeDnsmasq *dd = &in.dnsmasq[i];
                _cleanup_free_ char *p = NULL;

                dd->pid = d->pid;
                dd->restarts = d->restarts;
                (void) dnsmasq_config_path(n->runtime_dir, d->bridge, &conf[i]);
                (void) dnsmasq_lease_path(n->state_dir, d->bridge, &lease_file[i]);
                dd->config_file = conf[i];
                dd->lease_file = lease_file[i];
                if (bridges[i].managed && dnsmasq_lease_path(n->state_dir, bridges[i].name, &p) >= 0)
                        (void) dnsmasq_leases_read(p, &leases[i], &dd->n_leases);
                dd->leases = leases[i];
        }

        r = network_describe_build(&in, ret);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                free(conf[i]);
                free(lease_file[i]);
                free(leases[i]);
        }
        return r;
}

gid_t network_tap_group(const Network *n) {
        return n->tap_group;
}
