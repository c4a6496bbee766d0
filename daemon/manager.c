/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"
#include "util.h"

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
        m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (m->lock_fd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK) {
                        (void) read_one_line_file(path, &holder);
                        return log_error_errno(-EBUSY, "Another cuttlefish-host-resourcesd (pid %s) is using %s. "
                                                       "Stop it first, or give this one another --runtime-dir.",
                                               holder ?: "?", m->runtime_dir);
                }
                return log_error_errno(-errno, "Failed to lock %s: %m", path);
        }
        (void) ftruncate(m->lock_fd, 0);
        (void) dprintf(m->lock_fd, "%i\n", (int) getpid());
        return 0;
}

int manager_new(const char *config_path, bool config_must_exist, const char *runtime_dir, const char *state_dir,
                Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        *m = (Manager) {
                .lock_fd = -EBADF,
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

        r = mkdir_p(m->runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create runtime directory %s: %m", m->runtime_dir);
        r = mkdir_p(m->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s: %m", m->state_dir);
        r = manager_lock_runtime_dir(m);
        if (r < 0)
                return r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
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

        r = network_new(m, &m->network);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->network = network_free(m->network);
        auth_queries_free(m);
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
        STRV_FOREACH(w, warnings)
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

        (void) sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%llu",
                          (unsigned long long) now_usec(CLOCK_MONOTONIC));

        r = manager_read_config(m, &c, ret_error);
        if (r < 0) {
                (void) sd_notify(false, "READY=1");
                manager_update_status(m);
                return r;
        }
        config_done(&m->config);
        m->config = c;
        log_info("Configuration reloaded from %s: %u slots (was %u).", m->config_path, c.net.n_slots, old_slots);

        /* A network that is down stays down; otherwise reconcile to the new plan. */
        if (m->network->state != NETWORK_DOWN)
                r = network_setup(m->network, &m->config.net);
        manager_network_changed(m);
        (void) sd_notify(false, "READY=1");
        return r;
}

void manager_update_status(Manager *m) {
        (void) sd_notifyf(false, "STATUS=Network %s, %u slots, %u instances",
                          network_state_to_string(m->network->state), m->config.net.n_slots, m->n_instances);
}

int manager_startup(Manager *m) {
        int r;

        /* As the reference's "start": the network comes up with the service. A failure is
         * reported (NetworkState=failed, the log) but the service stays up to be fixed and
         * retried with SetupNetwork() or Reload(). */
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

        /* Nothing else runs on the network yet: leave the host as clean as the reference's stop. */
        if (m->teardown_on_exit && m->n_instances == 0)
                (void) network_teardown(m->network);
        return r;
}
