/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/json-util.h"

#include "netsetup/dnsmasq.h"
#include "netsetup/links.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "netsetup/monitor.h"
#include "daemon/network.h"
#include "common/constants.h"
#include "netsetup/nft.h"
#include "netsetup/nl.h"
#include "netsetup/probe.h"
#include "netsetup/sysctl.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/strv.h"
#include "common/time-util.h"

#define RECONCILE_DELAY_USEC (100 * USEC_PER_MSEC)
#define PERIODIC_CHECK_USEC (10 * USEC_PER_SEC)
#define DNSMASQ_BACKOFF_MIN_USEC (100 * USEC_PER_MSEC)
#define DNSMASQ_BACKOFF_MAX_USEC (10 * USEC_PER_SEC)
#define DNSMASQ_STABLE_USEC (30 * USEC_PER_SEC)
#define DNSMASQ_STOP_TIMEOUT_MSEC 3000

static const char *const network_state_table[_NETWORK_STATE_MAX] = {
        [NETWORK_DOWN] = "down",
        [NETWORK_CONFIGURING] = "configuring",
        [NETWORK_UP] = "up",
        [NETWORK_DEGRADED] = "degraded",
        [NETWORK_FAILED] = "failed",
};

const char *network_state_to_string(NetworkState s) {
        if (s < 0 || s >= _NETWORK_STATE_MAX)
                return NULL;
        return network_state_table[s];
}

static void network_set_state(Network *n, NetworkState s) {
        if (n->state == s)
                return;
        log_debug("Network state %s -> %s", network_state_to_string(n->state), network_state_to_string(s));
        n->state = s;
        manager_network_changed(n->manager);
}

static void network_set_error(Network *n, const char *e) {
        free(n->error);
        n->error = e ? strdup(e) : NULL;
}

/* Waits for pid to exit, up to timeout_msec; reaps it if it is our child. 0 when gone. */
static int wait_exit(pid_t pid, int timeout_msec, bool child) {
        int r = wait_pid_exit(pid, timeout_msec);

        if (r >= 0 && child)
                (void) waitpid(pid, NULL, 0);
        return r;
}

static void kill_and_wait(pid_t pid, bool child) {
        if (kill(pid, SIGTERM) < 0 && errno == ESRCH) {
                if (child)
                        (void) waitpid(pid, NULL, WNOHANG);
                return;
        }
        if (wait_exit(pid, DNSMASQ_STOP_TIMEOUT_MSEC, child) == -ETIMEDOUT) {
                log_warning("dnsmasq (pid %i) did not exit on SIGTERM; sending SIGKILL.", (int) pid);
                (void) kill(pid, SIGKILL);
                (void) wait_exit(pid, DNSMASQ_STOP_TIMEOUT_MSEC, child);
        }
}

static char *dnsmasq_pid_path(Network *n, const char *bridge) {
        char *p;

        if (asprintf(&p, "%s/dnsmasq-%s.pid", n->manager->runtime_dir, bridge) < 0)
                return NULL;
        return p;
}

/* A dnsmasq recorded by an earlier run of the daemon (it drops to another uid, which clears
 * PR_SET_PDEATHSIG, so it can outlive a crashed daemon). Only a process whose start time and
 * executable match the record is stopped. */
static void dnsmasq_kill_stale(Network *n, const char *bridge) {
        _cleanup_free_ char *path = dnsmasq_pid_path(n, bridge), *rec = NULL, *exe = NULL, *link = NULL;
        unsigned long long st;
        uint64_t now_st;
        char target[4096];
        ssize_t k;
        int pid;

        if (!path || read_one_line_file(path, &rec) < 0)
                return;
        (void) unlink(path);
        if (sscanf(rec, "%i %llu", &pid, &st) != 2 || pid <= 1)
                return;
        if (pid_get_starttime(pid, &now_st) < 0 || now_st != st)
                return;
        if (asprintf(&link, "/proc/%i/exe", pid) < 0)
                return;
        k = readlink(link, target, sizeof(target) - 1);
        if (k < 0)
                return;
        target[k] = 0;
        if (!strstr(target, "dnsmasq"))
                return;

        log_info("Stopping dnsmasq for %s left by an earlier run (pid %i).", bridge, pid);
        kill_and_wait(pid, false);
}

static void dnsmasq_record(Network *n, DnsmasqChild *d) {
        _cleanup_free_ char *path = dnsmasq_pid_path(n, d->bridge), *rec = NULL;
        uint64_t st;

        if (!path || pid_get_starttime(d->pid, &st) < 0)
                return;
        if (asprintf(&rec, "%i %llu\n", (int) d->pid, (unsigned long long) st) < 0)
                return;
        (void) write_file_atomic(path, rec, 0644);
}

static int dnsmasq_start(DnsmasqChild *d);

static int on_dnsmasq_restart(sd_event_source *s, uint64_t usec, void *userdata) {
        DnsmasqChild *d = userdata;

        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        if (!d->wanted || d->pid > 0)
                return 0;
        d->restarts++;
        (void) dnsmasq_start(d);
        return 0;
}

static void dnsmasq_schedule_restart(DnsmasqChild *d) {
        Network *n = d->network;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (d->started_usec > 0 && now - d->started_usec > DNSMASQ_STABLE_USEC)
                d->backoff_usec = DNSMASQ_BACKOFF_MIN_USEC;
        else
                d->backoff_usec = d->backoff_usec == 0 ? DNSMASQ_BACKOFF_MIN_USEC
                                                       : MIN(d->backoff_usec * 2, DNSMASQ_BACKOFF_MAX_USEC);

        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        r = sd_event_add_time_relative(n->manager->event, &d->restart_source, CLOCK_MONOTONIC, d->backoff_usec,
                                       0, on_dnsmasq_restart, d);
        if (r < 0)
                log_error_errno(r, "Failed to schedule dnsmasq restart for %s: %m", d->bridge);
}

static int on_dnsmasq_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        DnsmasqChild *d = userdata;
        _cleanup_free_ char *pid_path = dnsmasq_pid_path(d->network, d->bridge);

        d->child_source = sd_event_source_disable_unref(d->child_source);
        d->pid = 0;
        if (pid_path)
                (void) unlink(pid_path);

        if (!d->wanted)
                return 0;

        dnsmasq_schedule_restart(d);
        log_warning("dnsmasq for %s %s %i; restarting in %llu ms.", d->bridge,
                    si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si->si_status,
                    (unsigned long long) (d->backoff_usec / USEC_PER_MSEC));
        return 0;
}

static int dnsmasq_start(DnsmasqChild *d) {
        Network *n = d->network;
        _cleanup_free_ char *conf = NULL;
        BridgePlan bridges[NET_BRIDGES];
        const BridgePlan *b = NULL;
        int r;

        net_config_bridges(&n->applied, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++)
                if (streq(bridges[i].name, d->bridge))
                        b = &bridges[i];
        if (!b || !b->managed)
                return -EINVAL;

        if (!n->dnsmasq_exe) {
                r = dnsmasq_find(&n->dnsmasq_exe);
                if (r < 0)
                        return log_error_errno(r, "dnsmasq not found (looked in /usr/sbin, /sbin, /usr/bin): "
                                                  "install the dnsmasq-base (Debian) or dnsmasq (Fedora) package.");
        }

        r = dnsmasq_config_write(&n->applied, b, n->manager->runtime_dir, n->manager->state_dir, &conf);
        if (r < 0)
                return log_error_errno(r, "Failed to write dnsmasq config for %s: %m", d->bridge);

        r = dnsmasq_spawn(n->dnsmasq_exe, conf, &d->pid);
        if (r < 0) {
                dnsmasq_schedule_restart(d);
                return log_error_errno(r, "Failed to start dnsmasq for %s: %m", d->bridge);
        }
        d->started_usec = now_usec(CLOCK_MONOTONIC);
        d->bridge_ifindex = (int) if_nametoindex(d->bridge);

        r = sd_event_add_child(n->manager->event, &d->child_source, d->pid, WEXITED, on_dnsmasq_exit, d);
        if (r < 0) {
                kill_and_wait(d->pid, true);
                d->pid = 0;
                return log_error_errno(r, "Failed to watch dnsmasq: %m");
        }
        dnsmasq_record(n, d);
        log_info("Started dnsmasq for %s (pid %i).", d->bridge, (int) d->pid);
        return 0;
}

static void dnsmasq_stop(DnsmasqChild *d) {
        _cleanup_free_ char *pid_path = NULL;

        d->wanted = false;
        d->restart_source = sd_event_source_disable_unref(d->restart_source);
        if (d->pid > 0) {
                /* Reap it ourselves: the child source goes first so sd-event does not race us. */
                d->child_source = sd_event_source_disable_unref(d->child_source);
                kill_and_wait(d->pid, true);
                log_info("Stopped dnsmasq for %s (pid %i).", d->bridge, (int) d->pid);
                d->pid = 0;
        }
        pid_path = dnsmasq_pid_path(d->network, d->bridge);
        if (pid_path)
                (void) unlink(pid_path);
}

static void dnsmasq_remove_files(Network *n, const char *bridge) {
        _cleanup_free_ char *conf = NULL;

        if (dnsmasq_config_path(n->manager->runtime_dir, bridge, &conf) >= 0)
                (void) unlink(conf);
}

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
                if (d->bridge[0] && (!want || !streq(d->bridge, bridges[i].name))) {
                        dnsmasq_stop(d);
                        dnsmasq_remove_files(n, d->bridge);
                        d->bridge[0] = 0;
                }
                if (!want)
                        continue;

                if (!d->bridge[0]) {
                        (void) snprintf(d->bridge, sizeof(d->bridge), "%s", bridges[i].name);
                        dnsmasq_kill_stale(n, d->bridge);
                        d->restarts = 0;
                }
                d->wanted = true;

                /* A recreated bridge or a changed config needs a fresh dnsmasq. */
                if (d->pid > 0 && (config_changed || d->bridge_ifindex != (int) if_nametoindex(d->bridge))) {
                        dnsmasq_stop(d);
                        d->wanted = true;
                        d->restarts++;
                }
                if (d->pid == 0 && !d->restart_source) {
                        r = dnsmasq_start(d);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        }
        return ret;
}

static char *sysctl_saved_path(Network *n) {
        return path_join(n->manager->runtime_dir, "sysctl.saved");
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
                if (dnsmasq_config_build(a, &ba[i], "", &x) < 0 || dnsmasq_config_build(b, &bb[i], "", &y) < 0)
                        return true;
                differ = differ || !streq(x, y);
        }
        return differ;
}

/* One pass: links, sysctls, nftables, dnsmasq. repair: log what changed as drift. */
static int network_apply(Network *n, const NetConfig *c, bool repair) {
        _cleanup_(link_report_done) LinkReport report = {};
        _cleanup_free_ char *error = NULL, *saved = NULL;
        uint64_t t0 = now_usec(CLOCK_MONOTONIC), t_links, t_sysctl, t_nft;
        bool config_changed;
        int r;

        if (!n->nl) {
                r = nl_route_open(&n->nl);
                if (r < 0) {
                        network_set_error(n, "cannot open an rtnetlink socket");
                        return log_error_errno(r, "Failed to open rtnetlink socket: %m");
                }
        }
        /* Taps instances gave back go first, all in one request; links_apply recreates them. */
        r = links_delete_recycled(n->nl, &error);
        if (r < 0)
                log_warning_errno(r, "Failed to delete recycled taps: %s", strempty(error));
        error = mfree(error);

        config_changed = n->have_applied && dnsmasq_config_differs(&n->applied, c);
        if (c != &n->applied) {
                NetConfig copy;

                r = net_config_copy(c, &copy);
                if (r < 0)
                        return r;
                net_config_done(&n->applied);
                n->applied = copy;
                n->have_applied = true;
        }

        /* Slots an instance still holds stay, even past num_cvd_accounts, until it is removed. */
        bool keep[NET_SLOTS_MAX + 1] = {};
        for (unsigned s = 1; s <= NET_SLOTS_MAX; s++)
                keep[s] = n->manager->instances[s] != NULL;
        r = links_apply(n->nl, &n->applied, n->tap_group, keep, &report, &error);
        if (r < 0) {
                network_set_error(n, error ?: "failed to configure links");
                return log_error_errno(r, "Failed to configure links: %s", strempty(error));
        }

        t_links = now_usec(CLOCK_MONOTONIC);
        /* Taps an instance gave back are recreated here on purpose: not drift. */
        bool drift = repair && !n->refill;
        n->refill = false;
        STRV_FOREACH(s, report.changes)
                log_full(drift ? LOG_WARNING : LOG_DEBUG, "%s%s", drift ? "Repaired drift: " : "", *s);
        if (drift && link_report_total(&report) > 0)
                n->repairs++;
        strv_free(n->conflicts);
        n->conflicts = TAKE_PTR(report.conflicts);
        STRV_FOREACH(s, n->conflicts)
                log_warning("Conflict: %s. Remove it ('ip link delete %.*s') or stop the tool that made it, "
                            "then run 'cfctl network up'.", *s, (int) strcspn(*s, " "), *s);

        saved = n->applied.restore_sysctls ? sysctl_saved_path(n) : NULL;
        r = sysctl_apply(&n->applied, saved, &error);
        if (r < 0) {
                network_set_error(n, error);
                return log_error_errno(r, "Failed to set sysctls: %s", strempty(error));
        }

        /* dnsmasq follows the links, whatever the firewall does next: a bridge removed by a reload
         * must not keep a dnsmasq bound to it because the nft transaction failed. */
        t_sysctl = now_usec(CLOCK_MONOTONIC);
        r = network_sync_dnsmasq(n, config_changed);
        if (r < 0) {
                network_set_error(n, "dnsmasq could not be started");
                return r;
        }

        t_nft = now_usec(CLOCK_MONOTONIC);
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

        network_set_error(n, NULL);
        log_debug("Apply took %llu us: links %llu, sysctls %llu, dnsmasq %llu, nftables %llu.",
                  (unsigned long long) (now_usec(CLOCK_MONOTONIC) - t0),
                  (unsigned long long) (t_links - t0),
                  (unsigned long long) (t_sysctl - t_links),
                  (unsigned long long) (t_nft - t_sysctl),
                  (unsigned long long) (now_usec(CLOCK_MONOTONIC) - t_nft));
        if (!repair)
                log_info("Network up: %u slots, %u links created, %u removed, %u changed, %u address changes.",
                         n->applied.n_slots, report.created, report.deleted, report.modified, report.addresses);
        return 0;
}

static int on_reconcile(sd_event_source *s, uint64_t usec, void *userdata) {
        Network *n = userdata;
        int r;

        n->reconcile_source = sd_event_source_disable_unref(n->reconcile_source);
        if (n->state != NETWORK_UP && n->state != NETWORK_DEGRADED)
                return 0;

        r = network_apply(n, &n->applied, true);
        network_set_state(n, r < 0 ? NETWORK_FAILED : n->conflicts && n->conflicts[0] ? NETWORK_DEGRADED : NETWORK_UP);
        return 0;
}

int network_recycle_taps(Network *n, char *const *names, size_t n_names) {
        int r;

        if (!n->nl) {
                r = nl_route_open(&n->nl);
                if (r < 0)
                        return r;
        }
        r = links_recycle(n->nl, names, n_names);
        if (r < 0)
                return r;
        network_queue_refill(n);
        return 0;
}

void network_flush_refill(Network *n) {
        if (n->refill && n->reconcile_source)
                (void) on_reconcile(n->reconcile_source, 0, n);
}

void network_queue_refill(Network *n) {
        n->refill = true;
        network_queue_reconcile(n);
}

void network_queue_reconcile(Network *n) {
        int r;

        if (n->reconcile_source)
                return;
        r = sd_event_add_time_relative(n->manager->event, &n->reconcile_source, CLOCK_MONOTONIC,
                                       RECONCILE_DELAY_USEC, 0, on_reconcile, n);
        if (r < 0)
                log_error_errno(r, "Failed to queue reconcile: %m");
}

static int on_monitor(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Network *n = userdata;
        int r;

        r = net_monitor_drain(n->monitor);
        if (r < 0)
                log_debug_errno(r, "Reading link events failed: %m");
        if (r != 0 && (n->state == NETWORK_UP || n->state == NETWORK_DEGRADED))
                network_queue_reconcile(n);
        return 0;
}

/* Changes that no link event announces: our nft table removed by hand. */
static int on_periodic(sd_event_source *s, uint64_t usec, void *userdata) {
        Network *n = userdata;

        (void) sd_event_source_set_time_relative(s, PERIODIC_CHECK_USEC);
        if ((n->state == NETWORK_UP || n->state == NETWORK_DEGRADED) && n->applied.firewall == FIREWALL_NFTABLES &&
            nft_table_present() == 0) {
                log_warning("nftables table inet %s disappeared; restoring it.", NET_TABLE_NAME);
                network_queue_reconcile(n);
        }
        return 0;
}

static gid_t lookup_tap_group(void) {
        struct group *g = getgrnam(CF_GROUP);

        if (!g) {
                log_warning("Group '%s' does not exist: taps are created without a group, so only root "
                            "can attach to them. Create it with 'groupadd --system %s'.", CF_GROUP, CF_GROUP);
                return (gid_t) -1;
        }
        return g->gr_gid;
}

int network_new(Manager *m, Network **ret) {
        Network *n;
        int r;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->manager = m;
        n->state = NETWORK_DOWN;
        n->tap_group = lookup_tap_group();
        for (size_t i = 0; i < NET_BRIDGES; i++)
                n->dnsmasq[i].network = n;

        r = net_monitor_new(&n->monitor);
        if (r < 0) {
                network_free(n);
                return log_error_errno(r, "Failed to subscribe to link events: %m");
        }
        r = sd_event_add_io(m->event, &n->monitor_source, net_monitor_fd(n->monitor), EPOLLIN, on_monitor, n);
        if (r < 0) {
                network_free(n);
                return r;
        }
        r = sd_event_add_time_relative(m->event, &n->periodic_source, CLOCK_MONOTONIC, PERIODIC_CHECK_USEC, 0,
                                       on_periodic, n);
        if (r < 0) {
                network_free(n);
                return r;
        }
        (void) sd_event_source_set_enabled(n->periodic_source, SD_EVENT_ON);

        *ret = n;
        return 0;
}

Network *network_free(Network *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                DnsmasqChild *d = &n->dnsmasq[i];
                d->child_source = sd_event_source_disable_unref(d->child_source);
                d->restart_source = sd_event_source_disable_unref(d->restart_source);
        }
        sd_event_source_disable_unref(n->monitor_source);
        sd_event_source_disable_unref(n->reconcile_source);
        sd_event_source_disable_unref(n->periodic_source);
        net_monitor_free(n->monitor);
        nl_socket_free(n->nl);
        net_config_done(&n->applied);
        strv_free(n->conflicts);
        free(n->dnsmasq_exe);
        free(n->error);
        return mfree(n);
}

/* A route of someone else's on one of our subnets: adding our address would put a second route
 * beside it, and whichever wins, the host or the guests lose that subnet. Refuse, name it. */
static int network_check_routes(Network *n, const NetConfig *c) {
        _cleanup_(host_issues_done) HostIssues l = {};
        int r;

        if (!n->nl) {
                r = nl_route_open(&n->nl);
                if (r < 0)
                        return r;
        }
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

        network_set_state(n, NETWORK_CONFIGURING);
        r = network_check_routes(n, c);
        if (r < 0) {
                network_set_state(n, NETWORK_FAILED);
                return r;
        }
        r = network_apply(n, c, false);
        if (r < 0) {
                network_set_state(n, NETWORK_FAILED);
                return r;
        }
        network_set_state(n, n->conflicts && n->conflicts[0] ? NETWORK_DEGRADED : NETWORK_UP);
        return 0;
}

int network_teardown(Network *n) {
        _cleanup_free_ char *error = NULL, *saved = NULL;
        int r, ret = 0;

        n->reconcile_source = sd_event_source_disable_unref(n->reconcile_source);
        network_set_state(n, NETWORK_CONFIGURING);

        for (size_t i = 0; i < NET_BRIDGES; i++) {
                DnsmasqChild *d = &n->dnsmasq[i];

                if (!d->bridge[0])
                        continue;
                dnsmasq_stop(d);
                dnsmasq_remove_files(n, d->bridge);
                d->bridge[0] = 0;
        }

        r = nft_remove(&error);
        if (r < 0) {
                log_error("Failed to remove nftables tables: %s", strempty(error));
                ret = r;
        }

        if (!n->nl && nl_route_open(&n->nl) < 0)
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
        network_set_state(n, ret < 0 ? NETWORK_FAILED : NETWORK_DOWN);
        if (ret >= 0)
                log_info("Network down: all links, tables and dnsmasq processes of this service removed.");
        return ret;
}

int network_host_issues(Network *n, HostIssues *l) {
        const NetConfig *c = n->have_applied ? &n->applied : &n->manager->config.net;
        int r;

        if (!n->nl && nl_route_open(&n->nl) < 0)
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

/* JSON */

static struct json_object *json_str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static const char *tap_kind_name(TapKind k) {
        static const char *const names[_TAP_KIND_MAX] = {
                [TAP_ETHERNET] = "ethernet",
                [TAP_WIFI] = "wifi",
                [TAP_MOBILE] = "mobile",
                [TAP_WIFIAP] = "wifiap",
        };
        return names[k];
}

typedef struct LeaseSet {
        DnsmasqLease *leases;
        size_t n;
} LeaseSet;

static const DnsmasqLease *lease_find(const LeaseSet *ls, const uint8_t mac[6]) {
        for (size_t i = 0; i < ls->n; i++)
                if (memcmp(ls->leases[i].mac, mac, 6) == 0)
                        return &ls->leases[i];
        return NULL;
}

static struct json_object *describe_dnsmasq(Network *n, const DnsmasqChild *d, size_t n_leases) {
        _cleanup_free_ char *conf = NULL, *lease = NULL;
        struct json_object *o = json_object_new_object();

        (void) dnsmasq_config_path(n->manager->runtime_dir, d->bridge, &conf);
        (void) dnsmasq_lease_path(n->manager->state_dir, d->bridge, &lease);
        json_object_object_add(o, "running", json_object_new_boolean(d->pid > 0));
        json_object_object_add(o, "pid", d->pid > 0 ? json_object_new_int(d->pid) : NULL);
        json_object_object_add(o, "restarts", json_object_new_int((int) d->restarts));
        json_object_object_add(o, "config_file", json_str_or_null(conf));
        json_object_object_add(o, "lease_file", json_str_or_null(lease));
        json_object_object_add(o, "leases", json_object_new_int((int) n_leases));
        return o;
}

int network_describe(Network *n, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        _cleanup_(link_table_done) LinkTable t = {};
        const NetConfig *c = n->have_applied ? &n->applied : &n->manager->config.net;
        BridgePlan bridges[NET_BRIDGES];
        LeaseSet leases[NET_BRIDGES] = {};
        struct json_object *arr, *slots;
        bool have_table = false;
        int r;

        if (!n->nl && nl_route_open(&n->nl) < 0)
                return -EIO;
        r = link_table_load(n->nl, &t);
        if (r >= 0)
                have_table = true;

        net_config_bridges(c, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                _cleanup_free_ char *p = NULL;

                if (!bridges[i].managed || dnsmasq_lease_path(n->manager->state_dir, bridges[i].name, &p) < 0)
                        continue;
                (void) dnsmasq_leases_read(p, &leases[i].leases, &leases[i].n);
        }

        o = json_object_new_object();
        json_object_object_add(o, "state", json_object_new_string(network_state_to_string(n->state)));
        json_object_object_add(o, "error", json_str_or_null(n->error));
        json_object_object_add(o, "slot_count", json_object_new_int((int) c->n_slots));
        json_object_object_add(o, "firewall", json_object_new_string(firewall_mode_to_string(c->firewall)));
        json_object_object_add(o, "nft_table", json_object_new_string("inet " NET_TABLE_NAME));
        json_object_object_add(o, "nft_table_present",
                               json_object_new_boolean(c->firewall == FIREWALL_NFTABLES && nft_table_present() > 0));
        json_object_object_add(o, "netdev_group", json_object_new_int(NET_NETDEV_GROUP));
        json_object_object_add(o, "links", json_object_new_int(have_table ? (int) link_table_count_group(&t, NET_NETDEV_GROUP) : -1));
        json_object_object_add(o, "bridge_interface", json_str_or_null(c->bridge_interface));
        /* With bridge_interface and ipv4_bridge=0/ipv6_bridge=0: how frames are kept off it. */
        json_object_object_add(
                        o,
                        "bridge_filter",
                        c->bridge_interface && (!c->ipv4_bridge || !c->ipv6_bridge)
                                        ? json_object_new_string(n->bridge_filter_drop ? "drop" : "broute")
                                        : NULL);
        json_object_object_add(o, "repairs", json_object_new_int((int) n->repairs));

        arr = json_object_new_array();
        STRV_FOREACH(s, n->conflicts)
                json_object_array_add(arr, json_object_new_string(*s));
        json_object_object_add(o, "conflicts", arr);

        arr = json_object_new_array();
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                const LinkInfo *li = have_table ? link_table_find(&t, bridges[i].name) : NULL;
                struct json_object *b;
                char addr[INET_ADDRSTRLEN + 4], a[INET_ADDRSTRLEN];

                if (i == 1 && !bridges[i].managed) /* bridge_interface: one bridge, listed once */
                        break;
                b = json_object_new_object();
                json_object_object_add(b, "name", json_object_new_string(bridges[i].name));
                json_object_object_add(b, "managed", json_object_new_boolean(bridges[i].managed));
                /* A managed bridge's name held by a link that is not ours is a conflict, not "present". */
                json_object_object_add(
                                b,
                                "present",
                                json_object_new_boolean(
                                                li &&
                                                (!bridges[i].managed || li->group == NET_NETDEV_GROUP)));
                json_object_object_add(b, "up", json_object_new_boolean(li && (li->flags & IFF_UP)));
                if (bridges[i].managed) {
                        ipv4_to_string(bridges[i].address, a);
                        (void) snprintf(addr, sizeof(addr), "%s/24", a);
                        json_object_object_add(b, "address", json_object_new_string(addr));
                        json_object_object_add(b, "ipv6_prefix", json_str_or_null(bridges[i].ipv6_prefix));
                        json_object_object_add(b, "dnsmasq", describe_dnsmasq(n, &n->dnsmasq[i], leases[i].n));
                }
                json_object_array_add(arr, b);
        }
        json_object_object_add(o, "bridges", arr);

        slots = json_object_new_array();
        for (unsigned slot = 1; slot <= c->n_slots; slot++) {
                struct json_object *so = json_object_new_object(), *taps = json_object_new_array();

                json_object_object_add(so, "number", json_object_new_int((int) slot));
                json_object_object_add(so, "vsock_cid", json_object_new_int((int) slot_vsock_cid(slot)));
                for (TapKind k = 0; k < _TAP_KIND_MAX; k++) {
                        struct json_object *to;
                        const LinkInfo *li, *master;
                        char name[IFNAMSIZ], mac[18];
                        uint8_t macb[6];
                        Ipv4Slash30 a;
                        int bi;

                        if (!slot_has_tap(c, slot, k))
                                continue;
                        (void) slot_tap_name(slot, k, name);
                        li = have_table ? link_table_find(&t, name) : NULL;
                        master = li && li->master > 0 ? link_table_find_index(&t, li->master) : NULL;

                        to = json_object_new_object();
                        json_object_object_add(to, "name", json_object_new_string(name));
                        json_object_object_add(to, "kind", json_object_new_string(tap_kind_name(k)));
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
                        bi = tap_kind_bridge(k);
                        if (bi >= 0 && bridges[bi].managed) {
                                const DnsmasqLease *le = lease_find(&leases[bi], macb);

                                if (le) {
                                        struct json_object *lo = json_object_new_object();
                                        json_object_object_add(lo, "ip", json_object_new_string(le->ip));
                                        json_object_object_add(lo, "hostname", json_str_or_null(le->hostname[0] ? le->hostname : NULL));
                                        json_object_object_add(lo, "expires", json_object_new_int64((int64_t) le->expires));
                                        json_object_object_add(to, "lease", lo);
                                } else
                                        json_object_object_add(to, "lease", NULL);
                        }
                        json_object_array_add(taps, to);
                }
                json_object_object_add(so, "taps", taps);
                json_object_array_add(slots, so);
        }
        json_object_object_add(o, "slots", slots);

        for (size_t i = 0; i < NET_BRIDGES; i++)
                free(leases[i].leases);

        *ret = TAKE_PTR(o);
        return 0;
}

gid_t network_tap_group(const Network *n) {
        return n->tap_group;
}
