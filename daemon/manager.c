/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "build-config.h"
#include "daemon/instance-bus.h"
#include "daemon/manager-bus.h"
#include "common/log.h"
#include "netsetup/tap.h"
#include "vmm/kvm.h"
#include "daemon/manager.h"
#include "daemon/persist.h"
#include "daemon/recover.h"
#include "daemon/state.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"
#include "common/time-util.h"

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received %s, shutting down.", strsignal((int) si->ssi_signo));
        return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        _cleanup_free_ char *e = NULL;
        Manager *m = userdata;

        log_info("Received SIGHUP, reloading configuration.");
        (void) manager_reload(m, &e);
        return 0;
}

static int manager_lock_runtime_dir(Manager *m) {
        _cleanup_free_ char *path = path_join(m->runtime_dir, "daemon.lock");
        _cleanup_free_ char *holder = NULL;

        if (!path)
                return log_oom();
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

        if (fd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        /* lock_fd is set only once the lock is ours: manager_free() unlinks the file then only. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK) {
                        (void) read_one_line_file(path, &holder);
                        return log_error_errno(
                                        -EBUSY,
                                        "Another cuttlefish-host-resourcesd (pid %s) is using %s. "
                                        "Stop it first, or give this one another --runtime-dir.",
                                        holder ?: "?",
                                        m->runtime_dir);
                }
                return log_error_errno(-errno, "Failed to lock %s: %m", path);
        }
        m->lock_fd = TAKE_FD(fd);
        (void) ftruncate(m->lock_fd, 0);
        (void) dprintf(m->lock_fd, "%i\n", (int) getpid());
        return 0;
}

static void on_network_changed(Network *n, void *userdata) {
        manager_network_changed(userdata);
        autostart_network_changed(userdata);
}

int manager_new(const char *config_path,
                bool config_must_exist,
                const char *runtime_dir,
                const char *state_dir,
                Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        *m = (Manager){
                .lock_fd = -EBADF,
                .kvm_usable = -1,
                /* Where systemd is the init system, it owns the cgroup tree: VMMs go into
                 * transient scopes it creates (DESIGN.md §7). CF_NO_SCOPES=1 turns that off. */
                .use_scopes = sd_booted() > 0 && !getenv("CF_NO_SCOPES"),
                .config_must_exist = config_must_exist,
                .teardown_on_exit = true,
        };
        r = config_init_defaults(&m->config);
        if (r < 0)
                return log_oom();

        m->config_path = strdup(config_path);
        m->runtime_dir = strdup(runtime_dir);
        m->state_dir = strdup(state_dir);
        if (!m->config_path || !m->runtime_dir || !m->state_dir)
                return log_oom();

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        auth_registry_init(&m->auth, m->event);
        r = host_probe_new(m, &m->host_probe);
        if (r < 0)
                return log_oom();

        *ret = TAKE_PTR(m);
        return 0;
}

/* The directories, the lock, the signals and the network's link monitor: what manager_new() leaves
 * out so that a test can build a Manager without touching the host. */
static int manager_open(Manager *m) {
        int r;

        r = mkdir_p(m->runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create runtime directory %s: %m", m->runtime_dir);
        r = mkdir_p(m->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s: %m", m->state_dir);
        r = manager_lock_runtime_dir(m);
        if (r < 0)
                return r;

        (void) sd_event_set_watchdog(m->event, true);
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_sigterm, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGTERM: %m");
        r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_sigterm, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGINT: %m");
        r = sd_event_add_signal(m->event, &m->sighup_source, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGHUP: %m");

        return network_new(m->event, m->runtime_dir, m->state_dir, on_network_changed, m, &m->network);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                instance_free(m->instances[n]); /* takes itself out of the table */
                m->slot_reaps[n] = reap_free(m->slot_reaps[n]);
        }
        sd_event_source_disable_unref(m->gc_source);
        autostart_done(&m->autostart);
        m->trash = trash_free(m->trash);
        cgroup_layout_done(&m->cgroups);
        sandbox_seccomp_program_done(&m->seccomp);
        sd_event_source_disable_unref(m->emit_source);
        sd_event_source_disable_unref(m->save_retry_source);
        m->network = network_free(m->network);
        m->host_probe = host_probe_free(m->host_probe);
        auth_registry_done(&m->auth);
        sd_bus_flush_close_unref(m->bus);
        sd_event_source_disable_unref(m->sigterm_source);
        sd_event_source_disable_unref(m->sigint_source);
        sd_event_source_disable_unref(m->sighup_source);
        sd_event_unref(m->event);
        config_done(&m->config);
        if (m->lock_fd >= 0) {
                _cleanup_free_ char *path = path_join(m->runtime_dir, "daemon.lock");
                if (path)
                        (void) unlink(path);
                safe_close(m->lock_fd);
        }
        free(m->config_path);
        free(m->runtime_dir);
        free(m->state_dir);
        return mfree(m);
}

static int manager_read_config(Manager *m, Config *ret, char **ret_error) {
        _cleanup_(strv_freep) char **warnings = NULL;
        _cleanup_free_ char *e = NULL;
        int r;

        r = config_load(m->config_path, m->config_must_exist, ret, &e, &warnings);
        STRV_FOREACH (w, warnings)
                log_warning("%s", *w);
        if (r < 0) {
                log_error("%s", strempty(e));
                if (ret_error)
                        *ret_error = TAKE_PTR(e);
                return r == -ENOMEM ? r : -EINVAL;
        }
        return 0;
}

int manager_load_config(Manager *m, char **ret_error) {
        Config c;
        int r;

        r = manager_read_config(m, &c, ret_error);
        if (r < 0)
                return r;
        config_done(&m->config);
        m->config = c;
        return 0;
}

int manager_reload(Manager *m, char **ret_error) {
        unsigned old_slots = m->config.net.n_slots;
        Config c;
        int r;

        (void) sd_notifyf(
                        false,
                        "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%llu",
                        (unsigned long long) now_usec(CLOCK_MONOTONIC));

        r = manager_read_config(m, &c, ret_error);
        if (r < 0) {
                (void) sd_notify(false, "READY=1");
                manager_update_status(m);
                return r == -ENOMEM ? r : -EBADMSG; /* "the file is bad", not a network error */
        }
        config_done(&m->config);
        m->config = c;
        log_info("Configuration reloaded from %s: %u slots (was %u).",
                 m->config_path,
                 c.net.n_slots,
                 old_slots);
        /* Packages may have come or gone: versions, GPU modes and KVM are probed again. */
        (void) host_probe_start(m->host_probe);

        /* A network that is down stays down; otherwise reconcile to the new plan. */
        if (m->network && !network_is_down(m->network) && network_setup(m->network, &m->config.net) < 0)
                r = -EIO;
        manager_network_changed(m);
        (void) sd_notify(false, "READY=1");
        return r;
}

void manager_update_status(Manager *m) {
        (void) sd_notifyf(
                        false,
                        "STATUS=Network %s, %u slots, %u instances",
                        network_state_to_string(m->network ? m->network->state : NETWORK_DOWN),
                        m->config.net.n_slots,
                        manager_count_active(m));
}

int manager_cgroup_parent(const char *runtime_dir, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t len = 0;
        FILE *f;

        if (streq(runtime_dir, DEFAULT_RUNTIME_DIR) || streq(runtime_dir, DEFAULT_RUNTIME_DIR "/")) {
                s = strdup(CGROUP_PARENT_DEFAULT);
                if (!s)
                        return -ENOMEM;
                *ret = TAKE_PTR(s);
                return 0;
        }
        /* As systemd-escape --path: "/var/tmp/x-y/run" becomes "var-tmp-x\x2dy-run". */
        f = open_memstream(&s, &len);
        if (!f)
                return -ENOMEM;
        fputs(CGROUP_PARENT_DEFAULT "-", f);
        while (*runtime_dir == '/')
                runtime_dir++;
        for (const char *c = runtime_dir; *c; c++) {
                if (*c == '/') {
                        while (c[1] == '/')
                                c++;
                        if (c[1])
                                fputc('-', f);
                } else if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                           (*c >= '0' && *c <= '9') || *c == ':' || *c == '_' ||
                           (*c == '.' && c != runtime_dir))
                        fputc(*c, f);
                else
                        fprintf(f, "\\x%02x", (unsigned char) *c);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (strlen(s) > 255)
                return -ENAMETOOLONG;
        *ret = TAKE_PTR(s);
        return 0;
}

void manager_trash_dir(Manager *m, const char *path) {
        int r = m->trash ? trash_add(m->trash, path) : -ENOTCONN;

        if (r < 0) {
                log_warning_errno(r, "Cannot delete %s in the background (%m); deleting it now.", path);
                (void) rm_rf(path);
        }
}

/* instances/ goes with its last instance and its last deletion. */
static void manager_trash_idle(void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *dir = NULL;

        if (m->n_instances > 0)
                return;
        dir = path_join(m->runtime_dir, "instances");
        if (dir)
                (void) rmdir(dir);
}

static int manager_setup_cgroups(Manager *m) {
        _cleanup_free_ char *parent = NULL, *instances = NULL;
        const char *root = getenv("CF_CGROUP_ROOT") ?: "/sys/fs/cgroup";
        int r;

        r = manager_cgroup_parent(m->runtime_dir, &parent);
        if (r < 0)
                return log_error_errno(r, "Cannot name the cgroup subtree for %s: %m", m->runtime_dir);
        r = cgroup_layout_init(&m->cgroups, root, parent);
        if (r < 0)
                return log_error_errno(r, "Cannot set up cgroups under %s: %m", root);
        log_info("cgroups: %s layout, subtree %s, trees ended by %s.",
                 cgroup_layout_name(&m->cgroups),
                 parent,
                 cgroup_layout_kill_method(&m->cgroups));
        if (cgroup_layout_empty(&m->cgroups))
                log_warning("No cgroup hierarchy is usable here: a VMM's detached children cannot be found "
                            "and ended with it.");

        instances = path_join(m->runtime_dir, "instances");
        if (!instances)
                return log_oom();
        r = trash_new(m->event, instances, manager_trash_idle, m, &m->trash);
        if (r < 0)
                return log_oom();
        return 0;
}

int manager_startup(Manager *m) {
        int r;

        r = manager_open(m);
        if (r < 0)
                return r;
        r = manager_connect_bus(m);
        if (r < 0)
                return r;
        r = manager_setup_cgroups(m);
        if (r < 0)
                return r;
        (void) trash_collect(m->trash);

        /* As the reference's "start": the network comes up with the service. A failure is
         * reported (NetworkState=failed, the log) but the service stays up to be fixed and
         * retried with SetupNetwork() or Reload(). */
        /* VMMs that outlived an earlier run of the daemon (KillMode=process) first: the network
         * setup must keep the slots they hold. */
        (void) recover_run(m);

        /* In a worker, while the network comes up: nothing here waits for it. */
        (void) host_probe_start(m->host_probe);

        r = network_setup(m->network, &m->config.net);
        if (r < 0)
                log_error("Network setup failed: %s. Fix the cause, then run 'cfctl network up'.",
                          strempty(m->network->error));
        return 0;
}

int manager_run(Manager *m) {
        int r;

        manager_update_status(m);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(m->event);

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

        /* Running guests survive a daemon restart (KillMode=process): keep their network then.
         * With none, leave the host as clean as the reference's stop. */
        (void) manager_save_state(m);
        if (m->n_instances == 0) {
                _cleanup_free_ char *dir = path_join(m->runtime_dir, "instances");

                if (dir && !trash_pending(m->trash))
                        (void) rmdir(dir);
                /* (rmdir fails while a leaf of a slot still being reaped holds a task.) */
                cgroup_layout_remove(&m->cgroups);
        }
        if (m->teardown_on_exit && manager_count_active(m) == 0)
                (void) network_teardown_at_exit(m->network);
        else
                log_info("%u instances keep running; the network stays up for them.",
                         manager_count_active(m));
        return r;
}

unsigned manager_count_active(Manager *m) {
        unsigned n = 0;

        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++)
                if (m->instances[k] &&
                    (instance_is_active(m->instances[k]) || instance_spawn_running(m->instances[k]) ||
                     instance_is_reaping(m->instances[k])))
                        n++;
        return n;
}

unsigned manager_count_instances_of(Manager *m, uid_t uid) {
        unsigned n = 0;

        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++)
                if (m->instances[k] && m->instances[k]->owner == uid)
                        n++;
        return n;
}

/* max_disk_mb_per_user: 0 the user is under it (or there is none); -EDQUOT with the figures in
 * *ret_error. Root has no limit. */
int manager_check_disk_quota(Manager *m, uid_t uid, char **ret_error) {
        uint64_t used = 0, limit = m->config.max_disk_mb_per_user;

        if (limit == 0 || uid == 0)
                return 0;
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++)
                if (m->instances[k] && m->instances[k]->owner == uid)
                        used += persist_disk_usage(m->state_dir, k);
        if (used < limit * 1024 * 1024)
                return 0;
        (void) asprintf(ret_error,
                        "uid %u's instances use %llu MiB of disk, the most allowed is %llu MiB "
                        "(max_disk_mb_per_user). Reset or remove one first ('cfctl reset N', 'cfctl rm N')",
                        (unsigned) uid,
                        (unsigned long long) ((used + 1024 * 1024 - 1) / (1024 * 1024)),
                        (unsigned long long) limit);
        return -EDQUOT;
}

static void on_slot_reaped(Reap *r, int result, const char *leftovers, void *userdata) {
        Manager *m = userdata;

        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++)
                if (m->slot_reaps[n] == r) {
                        if (result == -ETIMEDOUT)
                                log_error("Slot %u: processes left by an earlier instance did not end within %u s "
                                          "of SIGKILL: %s. The slot is not used until they are gone.",
                                          n,
                                          (unsigned) (REAP_TIMEOUT_USEC / USEC_PER_SEC),
                                          strempty(leftovers));
                        else if (result < 0)
                                log_warning_errno(result, "Slot %u: cannot read its cgroup: %m", n);
                        else
                                log_info("Slot %u: the processes an earlier instance left are gone.", n);
                        m->slot_reaps[n] = reap_free(r);
                        return;
                }
}

int manager_reap_slot(Manager *m, unsigned n) {
        _cleanup_free_ pid_t *pids = NULL;
        _cleanup_free_ char *what = NULL;
        char leaf[32];
        size_t k = 0;
        int r;

        if (m->slot_reaps[n])
                return 1;
        if (instance_leaf_name(n, leaf, sizeof(leaf)) < 0)
                return -EINVAL;
        r = cgroup_leaf_pids(&m->cgroups, leaf, &pids, &k);
        if (r < 0)
                return r;
        if (k == 0) {
                (void) cgroup_leaf_remove(&m->cgroups, leaf);
                return 0;
        }
        what = cgroup_pids_describe(pids, k, 16);
        log_warning("Slot %u: killing %zu processes left in its cgroup %s by an instance that is gone: %s",
                    n,
                    k,
                    leaf,
                    strempty(what));
        return reap_start(
                        m->event,
                        &m->cgroups,
                        leaf,
                        REAP_TIMEOUT_USEC,
                        on_slot_reaped,
                        m,
                        &m->slot_reaps[n]);
}

/* A slot is usable when it exists in the plan, no instance holds it, and no outside process (a
 * VMM or launch_cvd started by hand) holds its taps: attaching to a busy tap fails with EBUSY. */
static int slot_probe(Manager *m, unsigned slot, char **ret_why) {
        static const TapKind kinds[] = { TAP_ETHERNET, TAP_WIFI, TAP_MOBILE };
        int r;

        if (slot < 1 || slot > m->config.net.n_slots)
                return -ERANGE;
        if (m->instances[slot])
                return -EBUSY;
        /* Never given to anyone while its leaf holds a task: the leftovers are killed first. */
        r = manager_reap_slot(m, slot);
        if (r != 0) {
                if (ret_why && r > 0)
                        *ret_why = strdup(
                                        "processes an earlier instance left in its cgroup are being ended; try "
                                        "again in a moment");
                else if (ret_why)
                        (void) asprintf(ret_why, "its cgroup cannot be read: %s", strerror(-r));
                return -EBUSY;
        }
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                char name[IFNAMSIZ];
                int fd = -EBADF;

                (void) slot_tap_name(slot, kinds[k], name);
                r = tap_open(name, &fd);
                safe_close(fd);
                if (r < 0) {
                        if (ret_why)
                                (void) asprintf(ret_why,
                                                "%s %s",
                                                name,
                                                r == -EBUSY ? "is held by another process" : strerror(-r));
                        return r == -EBUSY ? -EBUSY : -ENODEV;
                }
        }
        return 0;
}

int manager_allocate_slot(Manager *m, unsigned wanted, unsigned *ret, char **ret_error) {
        int r;

        network_flush_refill(m->network);

        if (wanted > 0) {
                _cleanup_free_ char *why = NULL;

                r = slot_probe(m, wanted, &why);
                if (r == -ERANGE)
                        (void) asprintf(ret_error,
                                        "slot %u does not exist: this host has slots 1 to %u "
                                        "(num_cvd_accounts)",
                                        wanted,
                                        m->config.net.n_slots);
                else if (r == -EBUSY && m->instances[wanted])
                        (void) asprintf(ret_error,
                                        "slot %u is taken by instance %u of uid %u; choose another "
                                        "number or leave it out",
                                        wanted,
                                        wanted,
                                        (unsigned) m->instances[wanted]->owner);
                else if (r < 0)
                        (void) asprintf(ret_error, "slot %u is not usable: %s", wanted, strempty(why));
                if (r < 0)
                        return r;
                *ret = wanted;
                return 0;
        }
        for (unsigned slot = 1; slot <= m->config.net.n_slots; slot++)
                if (slot_probe(m, slot, NULL) >= 0) {
                        *ret = slot;
                        return 0;
                }
        (void) asprintf(ret_error,
                        "all %u slots are in use. Remove an instance ('cfctl rm N') or raise "
                        "num_cvd_accounts and reload",
                        m->config.net.n_slots);
        return -ENOSPC;
}

int manager_add_instance(Manager *m, Instance *i) {
        if (i->number < 1 || i->number > NET_SLOTS_MAX || m->instances[i->number])
                return -EBUSY;
        m->instances[i->number] = i;
        m->n_instances++;
        if (m->network)
                network_set_slot_busy(m->network, i->number, true);
        manager_bus_emit_instance_new(m, i);
        manager_instance_changed(m, i);
        return 0;
}

void manager_unlink_instance(Manager *m, Instance *i) {
        if (!m || i->number < 1 || i->number > NET_SLOTS_MAX || m->instances[i->number] != i)
                return;
        m->instances[i->number] = NULL;
        m->n_instances--;
        autostart_instance_gone(m, i);
        if (m->network)
                network_set_slot_busy(m->network, i->number, false);
        if (i->in_gc_queue) {
                Instance **p = &m->gc_queue;

                while (*p && *p != i)
                        p = &(*p)->gc_next;
                if (*p)
                        *p = i->gc_next;
                i->in_gc_queue = false;
        }
}

Instance *manager_get_instance(Manager *m, unsigned number) {
        return number >= 1 && number <= NET_SLOTS_MAX ? m->instances[number] : NULL;
}

/* Instances whose end came inside one of their own callbacks: removed right after it. */
static int on_gc(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        Instance *i;

        m->gc_source = sd_event_source_disable_unref(m->gc_source);
        while ((i = m->gc_queue)) {
                m->gc_queue = i->gc_next;
                i->gc_next = NULL;
                i->in_gc_queue = false;
                manager_remove_instance(m, i);
        }
        return 0;
}

void manager_queue_gc(Manager *m, Instance *i) {
        i->gc_next = m->gc_queue;
        m->gc_queue = i;
        if (m->gc_source)
                return;
        /* Before anything else the loop has: a client told the instance failed must not find it. */
        if (sd_event_add_defer(m->event, &m->gc_source, on_gc, m) < 0 ||
            sd_event_source_set_priority(m->gc_source, SD_EVENT_PRIORITY_IMPORTANT) < 0)
                log_warning("Failed to queue the removal of instance %u.", i->number);
}

void manager_remove_instance(Manager *m, Instance *i) {
        unsigned number = i->number;

        instance_release(i);
        /* Its definition and overlays go before the caller hears it is removed. */
        persist_remove(m->state_dir, number);
        manager_bus_emit_instance_removed(m, i);
        log_info("Instance %u (uid %u): removed", number, (unsigned) i->owner);
        /* A Remove() waiting for this gets its answer once the object is gone from the bus. */
        instance_bus_send_remove_reply(i, NULL, NULL);
        instance_free(i);
        /* A slot kept past num_cvd_accounts for this instance can go now. */
        if (number > m->config.net.n_slots && m->network)
                network_queue_reconcile(m->network);
        manager_bus_emit_instance_count(m);
        manager_persist(m);
        manager_update_status(m);
}

int manager_save_state(Manager *m) {
        _cleanup_free_ char *path = path_join(m->runtime_dir, "state.json");
        _cleanup_free_ StateRecord *records = NULL;
        size_t n = 0;

        if (!path)
                return -ENOMEM;
        records = calloc(MAX(m->n_instances, 1u), sizeof(StateRecord));
        if (!records)
                return -ENOMEM;
        for (unsigned k = 1; k <= NET_SLOTS_MAX && n < m->n_instances; k++)
                if (m->instances[k])
                        records[n++] = instance_record(m->instances[k], true);
        return state_save(path, records, n);
}

#define SAVE_RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define SAVE_RETRY_MAX_USEC (30 * USEC_PER_SEC)

static int on_save_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->save_retry_source = sd_event_source_disable_unref(m->save_retry_source);
        manager_persist(m);
        return 0;
}

void manager_persist(Manager *m) {
        int r;

        if (manager_save_state(m) >= 0) {
                if (m->save_retry_usec > 0)
                        log_info("Saved the instance state again after earlier failures.");
                m->save_retry_usec = 0;
                m->save_retry_source = sd_event_source_disable_unref(m->save_retry_source);
                return;
        }
        if (m->save_retry_source)
                return;
        m->save_retry_usec = m->save_retry_usec > 0 ? MIN(m->save_retry_usec * 2, SAVE_RETRY_MAX_USEC)
                                                    : SAVE_RETRY_MIN_USEC;
        r = sd_event_add_time_relative(
                        m->event,
                        &m->save_retry_source,
                        CLOCK_MONOTONIC,
                        m->save_retry_usec,
                        0,
                        on_save_retry,
                        m);
        if (r < 0)
                log_error_errno(r, "Cannot schedule another attempt to save the state: %m");
        else
                log_warning("Will try to save the instance state again in %llu s.",
                            (unsigned long long) (m->save_retry_usec / USEC_PER_SEC));
}

static int on_emit(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        m->emit_source = sd_event_source_disable_unref(m->emit_source);
        for (unsigned k = 1; k <= NET_SLOTS_MAX; k++) {
                Instance *i = m->instances[k];

                if (!i || !i->dirty)
                        continue;
                i->dirty = false;
                instance_bus_emit_changed(i);
                if (i->definition_unsaved) {
                        i->definition_unsaved = false;
                        (void) persist_save(m->state_dir, i);
                }
        }
        manager_persist(m);
        manager_update_status(m);
        return 0;
}

void manager_instance_changed(Manager *m, Instance *i) {
        if (m->instance_observer)
                m->instance_observer(i, m->instance_observer_userdata);
        autostart_instance_changed(m, i);
        i->dirty = true;
        if (m->emit_source)
                return;
        if (sd_event_add_defer(m->event, &m->emit_source, on_emit, m) < 0)
                log_warning("Failed to queue instance change signals.");
}

/* Accessors for the children: what they may know of the Manager besides the event loop and bus. */
const char *manager_runtime_dir(const Manager *m) {
        return m->runtime_dir;
}

const char *manager_state_dir(const Manager *m) {
        return m->state_dir;
}

const CgroupLayout *manager_cgroups(const Manager *m) {
        return &m->cgroups;
}

bool manager_use_scopes(const Manager *m) {
        return m->use_scopes && m->bus;
}

bool manager_vmm_seccomp(const Manager *m) {
        return m->config.vmm_seccomp;
}

const SeccompProgram *manager_seccomp_program(Manager *m) {
        int r;

        if (m->seccomp.filter)
                return &m->seccomp;
        r = sandbox_seccomp_compile(&m->seccomp);
        if (r < 0) {
                log_debug_errno(r,
                                "Cannot compile the VMM syscall filter ahead (%m); each VMM's child compiles it.");
                return NULL;
        }
        return &m->seccomp;
}

int manager_kvm_usable(const Manager *m) {
        return m->kvm_usable;
}

Network *manager_network(const Manager *m) {
        return m->network;
}

int manager_kvm_probe(Manager *m, const char *qemu) {
        char why[256];

        if (m->kvm_usable >= 0)
                return m->kvm_usable;
        m->kvm_usable = kvm_probe(qemu, why, sizeof(why)) > 0;
        if (m->kvm_usable)
                log_info("KVM is usable: guests run with -accel kvm.");
        else
                log_notice("KVM is not usable (%s): guests run under TCG, much slower.", why);
        return m->kvm_usable;
}

void manager_set_kvm_usable(Manager *m, bool usable) {
        m->kvm_usable = usable;
}

AuthRegistry *manager_auth(Manager *m) {
        return &m->auth;
}
