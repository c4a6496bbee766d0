/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/bus-auth.h"
#include "daemon/persist.h"
#include "common/bus-api.h"
#include "daemon/instance-bus.h"
#include "daemon/instance.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"

static int instance_from_path(Manager *m, const char *path, Instance **ret) {
        const char *prefix = INSTANCE_PATH_PREFIX;
        uint32_t n;

        if (strncmp(path, prefix, strlen(prefix)) != 0)
                return 0;
        if (parse_uint32(path + strlen(prefix), &n) < 0 || !(*ret = manager_get_instance(m, n)))
                return 0;
        return 1;
}

static int instance_object_find(
                sd_bus *bus,
                const char *path,
                const char *interface,
                void *userdata,
                void **found,
                sd_bus_error *error) {
        Instance *i;
        int r = instance_from_path(userdata, path, &i);

        if (r > 0)
                *found = i;
        return r;
}

static int instance_node_enumerator(
                sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        _cleanup_(strv_freep) char **l = NULL;
        Manager *m = userdata;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                Instance *i = manager_get_instance(m, n);

                if (!i)
                        continue;
                r = strv_push(&l, strdup(i->object_path));
                if (r < 0)
                        return r;
        }
        *nodes = TAKE_PTR(l);
        return 1;
}

/* Owners manage their own instances; anyone else needs polkit's manage-instances. */
int bus_verify_instance_access(Instance *i, sd_bus_message *message, sd_bus_error *error) {
        char num[16], owner[16];
        uid_t euid;
        int r;

        r = bus_sender_euid(message, &euid);
        if (r < 0)
                return r;
        if (euid == i->owner)
                return 1;

        (void) snprintf(num, sizeof(num), "%u", i->number);
        (void) snprintf(owner, sizeof(owner), "%u", (unsigned) i->owner);
        const char *details[] = { "instance", num, "owner", owner, NULL };
        return bus_verify_auth_async(
                        manager_auth(i->manager), message, AUTH_ACTION_MANAGE_INSTANCES, details, error);
}

static int reply_state_error(sd_bus_error *error, Instance *i, const char *what) {
        return sd_bus_error_setf(
                        error,
                        BUS_ERROR_INVALID_STATE,
                        "Instance %u is %s; cannot %s it now.%s",
                        i->number,
                        instance_state_to_string(i->state),
                        what,
                        instance_is_active(i) ? "" : " Start it first ('cfctl restart N', or Start()).");
}

static int method_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *e = NULL;
        Instance *i = userdata;
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (instance_is_removing(i))
                return sd_bus_error_setf(
                                error, BUS_ERROR_INVALID_STATE, "Instance %u is being removed.", i->number);
        if (instance_is_reaping(i))
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "Instance %u is ending the processes its VMM left; try again in a moment.",
                                i->number);
        if (instance_is_active(i) || instance_spawn_running(i))
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "Instance %u is already %s.",
                                i->number,
                                instance_state_to_string(i->state));
        if (manager_check_disk_quota(i->manager, i->owner, &e) < 0)
                return sd_bus_error_setf(error, BUS_ERROR_QUOTA_EXCEEDED, "%s.", e);
        r = instance_start(i, &e);
        if (r < 0)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_SPAWN_FAILED,
                                "Instance %u did not start: %s.",
                                i->number,
                                strempty(e));
        /* Answered once the VMM has exec'd, or with the reason it could not. */
        i->start_reply = sd_bus_message_ref(message);
        i->start_reply_create = false;
        return 1;
}

/* Instance.Stop() and Manager.StopInstance(N). Without a VMM, instance_stop() still cancels a
 * pending policy restart; only when there is nothing to stop is it InvalidState. */
int bus_instance_stop(Instance *i, sd_bus_message *message, sd_bus_error *error) {
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = instance_stop(i);
        if (r == -ESRCH)
                return reply_state_error(error, i, "stop");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_stop(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return bus_instance_stop(userdata, message, error);
}

static int method_kill(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = userdata;
        int sig, r;

        r = sd_bus_message_read(message, "i", &sig);
        if (r < 0)
                return r;
        if (sig <= 0 || sig >= _NSIG)
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_INVALID_ARGS,
                                "Signal %i is not a valid signal number (1-%i).",
                                sig,
                                _NSIG - 1);
        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!instance_is_active(i))
                return reply_state_error(error, i, "kill");
        r = instance_kill(i, sig);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_restart(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *e = NULL;
        Instance *i = userdata;
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (instance_is_removing(i))
                return sd_bus_error_setf(
                                error, BUS_ERROR_INVALID_STATE, "Instance %u is being removed.", i->number);
        /* (Of a stopped instance, a start: the disk quota applies; a running one keeps its disk.) */
        if (!instance_is_active(i) && manager_check_disk_quota(i->manager, i->owner, &e) < 0)
                return sd_bus_error_setf(error, BUS_ERROR_QUOTA_EXCEEDED, "%s.", e);
        r = instance_restart(i, &e);
        if (r < 0)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_SPAWN_FAILED,
                                "Instance %u did not restart: %s.",
                                i->number,
                                strempty(e));
        return sd_bus_reply_method_return(message, NULL);
}

static int method_suspend_resume(sd_bus_message *message, Instance *i, bool suspend, sd_bus_error *error) {
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = suspend ? instance_suspend(i) : instance_resume(i);
        if (r == -EBADRQC)
                return reply_state_error(error, i, suspend ? "suspend" : "resume");
        if (r < 0)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "Instance %u cannot be %s: %s.",
                                i->number,
                                suspend ? "suspended" : "resumed",
                                r == -ENOTCONN ? "its control socket is not connected yet"
                                                : r == -EOPNOTSUPP ? "the backend cannot do that"
                                                : r == -EBUSY
                                                ? "a control command is still running; try again"
                                                : strerror(-r));
        return sd_bus_reply_method_return(message, NULL);
}

static int method_suspend(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return method_suspend_resume(message, userdata, true, error);
}

static int method_resume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return method_suspend_resume(message, userdata, false, error);
}

/* Persisted at once: the definition is what a reboot brings back. */
static int method_set_autostart(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = userdata;
        int b, r;

        r = sd_bus_message_read(message, "b", &b);
        if (r < 0)
                return r;
        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (i->spec.autostart != !!b) {
                i->spec.autostart = b;
                instance_log(i, LOG_INFO, "autostart %s", b ? "on" : "off");
                r = persist_save(manager_state_dir(i->manager), i);
                if (r < 0)
                        return sd_bus_error_setf(
                                        error,
                                        SD_BUS_ERROR_FAILED,
                                        "Cannot write the definition of instance %u: %s. See the "
                                        "daemon's log.",
                                        i->number,
                                        strerror(-r));
                manager_instance_changed(i->manager, i);
                (void) sd_bus_emit_properties_changed(
                                sd_bus_message_get_bus(message),
                                i->object_path,
                                INSTANCE_INTERFACE,
                                "Autostart",
                                NULL);
        }
        return sd_bus_reply_method_return(message, NULL);
}

/* The overlays go; the next start makes them afresh from the base images (Cuttlefish's powerwash). */
static int method_reset(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = userdata;
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (instance_is_active(i) || instance_spawn_running(i) || instance_is_removing(i) ||
            instance_is_reaping(i))
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "Instance %u is %s; stop it first ('cfctl stop %u'), then reset it.",
                                i->number,
                                instance_state_to_string(i->state),
                                i->number);
        r = persist_reset_disk(manager_state_dir(i->manager), i->number);
        if (r < 0)
                return sd_bus_error_setf(
                                error,
                                SD_BUS_ERROR_FAILED,
                                "Cannot delete the overlays of instance %u: %s.",
                                i->number,
                                strerror(-r));
        instance_log(i, LOG_INFO, "reset: its overlays are deleted, the next start makes them afresh");
        return sd_bus_reply_method_return(message, NULL);
}

/* Instance.Remove() and Manager.RemoveInstance(N). */
int bus_instance_remove(Instance *i, sd_bus_message *message, sd_bus_error *error) {
        int r;

        r = bus_verify_instance_access(i, message, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        /* A running VMM is killed and waited for in the event loop: the reply comes once it is
         * gone, and the daemon keeps serving meanwhile. */
        r = instance_remove(i, message);
        if (r == -EBUSY)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "Instance %u is already being removed.",
                                i->number);
        if (r > 0)
                return 1;
        manager_remove_instance(i->manager, i);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_remove(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return bus_instance_remove(userdata, message, error);
}

#define DEFINE_STRING_PROPERTY(name, expr)                                \
        static int property_get_##name(                                   \
                        sd_bus *bus,                                      \
                        const char *path,                                 \
                        const char *interface,                            \
                        const char *property,                             \
                        sd_bus_message *reply,                            \
                        void *userdata,                                   \
                        sd_bus_error *error) {                            \
                Instance *i = userdata;                                   \
                return sd_bus_message_append(reply, "s", strempty(expr)); \
        }

DEFINE_STRING_PROPERTY(backend, backend_to_string(i->spec.backend));
DEFINE_STRING_PROPERTY(state, instance_state_to_string(i->state));
DEFINE_STRING_PROPERTY(reason, instance_reason_to_string(i->reason));
DEFINE_STRING_PROPERTY(restart_policy, restart_policy_to_string(i->spec.restart));
DEFINE_STRING_PROPERTY(status_text, i->status_text);

/* Taps and Macs: one string per NIC. */
static int property_get_nic_strings(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Instance *i = userdata;
        bool taps = streq(property, "Taps");
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (size_t k = 0; k < INSTANCE_NICS; k++) {
                r = sd_bus_message_append(reply, "s", taps ? i->taps[k] : i->macs[k]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_disk_usage(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Instance *i = userdata;
        return sd_bus_message_append(
                        reply, "t", persist_disk_usage(manager_state_dir(i->manager), i->number));
}

static int property_get_autostart(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Instance *i = userdata;
        return sd_bus_message_append(reply, "b", (int) i->spec.autostart);
}

static int property_get_booted(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Instance *i = userdata;
        return sd_bus_message_append(reply, "b", (int) i->booted);
}

static int property_get_main_pid(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Instance *i = userdata;
        return sd_bus_message_append(reply, "u", (uint32_t) (i->pid > 0 ? i->pid : 0));
}

/* clang-format off */
static const sd_bus_vtable instance_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Number", "u", NULL, offsetof(Instance, number), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", NULL, offsetof(Instance, owner), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StateReason", "s", property_get_reason, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StatusText", "s", property_get_status_text, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Booted", "b", property_get_booted, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MainPid", "u", property_get_main_pid, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VsockCid", "u", NULL, offsetof(Instance, vsock_cid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Taps", "as", property_get_nic_strings, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Macs", "as", property_get_nic_strings, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RuntimeDirectory", "s", NULL, offsetof(Instance, runtime_dir), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ConsoleLog", "s", NULL, offsetof(Instance, console_log), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreatedTimestamp", "t", NULL, offsetof(Instance, created_realtime), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedTimestamp", "t", NULL, offsetof(Instance, started_realtime), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ExitStatus", "i", NULL, offsetof(Instance, exit_status), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RestartCount", "u", NULL, offsetof(Instance, restart_count), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RestartPolicy", "s", property_get_restart_policy, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Autostart", "b", property_get_autostart, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DiskUsage", "t", property_get_disk_usage, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Kill", SD_BUS_ARGS("i", signal), SD_BUS_NO_RESULT, method_kill, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Restart", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_restart, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Suspend", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_suspend, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Resume", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Remove", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_remove, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetAutostart", SD_BUS_ARGS("b", enable), SD_BUS_NO_RESULT, method_set_autostart, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
/* clang-format on */

int bus_register_instances(Manager *m, sd_bus *bus) {
        int r;

        r = sd_bus_add_fallback_vtable(
                        bus,
                        NULL,
                        MANAGER_PATH "/instance",
                        INSTANCE_INTERFACE,
                        instance_vtable,
                        instance_object_find,
                        m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(bus, NULL, MANAGER_PATH "/instance", instance_node_enumerator, m);
}

void instance_bus_emit_changed(Instance *i) {
        sd_bus *bus = i->manager->bus;

        if (!bus || sd_bus_is_ready(bus) <= 0)
                return;
        (void) sd_bus_emit_properties_changed(
                        bus,
                        i->object_path,
                        INSTANCE_INTERFACE,
                        "State",
                        "StateReason",
                        "StatusText",
                        "Booted",
                        "MainPid",
                        "StartedTimestamp",
                        "ExitStatus",
                        "RestartCount",
                        NULL);
}

bool instance_bus_send_start_reply(Instance *i, const char *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(i->start_reply);
        bool create = i->start_reply_create;

        i->start_reply_create = false;
        if (!m)
                return false;
        if (!error) {
                if (create)
                        (void) sd_bus_reply_method_return(m, "uo", i->number, i->object_path);
                else
                        (void) sd_bus_reply_method_return(m, NULL);
                return false;
        }
        if (create)
                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_SPAWN_FAILED,
                                "The VMM did not start: %s. Nothing was kept; fix it and "
                                "create the instance again.",
                                error);
        else
                (void) sd_bus_reply_method_errorf(
                                m,
                                BUS_ERROR_SPAWN_FAILED,
                                "Instance %u did not start: %s.",
                                i->number,
                                error);
        return create;
}

void instance_bus_send_remove_reply(Instance *i, const char *error_name, const char *text) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(i->remove_reply);

        if (!m)
                return;
        if (!error_name)
                (void) sd_bus_reply_method_return(m, NULL);
        else
                (void) sd_bus_reply_method_errorf(
                                m,
                                error_name,
                                "Instance %u was not removed: %s.",
                                i->number,
                                strempty(text));
}

void instance_bus_cancel_replies(Instance *i) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *start = TAKE_PTR(i->start_reply);

        if (start)
                (void) sd_bus_reply_method_errorf(
                                start,
                                BUS_ERROR_NO_SUCH_INSTANCE,
                                "Instance %u was removed while it was starting.",
                                i->number);
        instance_bus_send_remove_reply(i, BUS_ERROR_INVALID_STATE, "the daemon is exiting");
}
