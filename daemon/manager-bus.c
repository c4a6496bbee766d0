/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"

#include "common/json-util.h"

#include "daemon/backend.h"
#include "daemon/bus-auth.h"
#include "common/bus-api.h"
#include "daemon/instance-bus.h"
#include "daemon/manager-bus.h"
#include "vmm/gpu.h"
#include "vmm/host.h"
#include "daemon/instance-options.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "netsetup/probe.h"
#include "common/macro.h"
#include "common/strv.h"

#define NGROUPS_MAX_LOCAL 256

static int property_get_version(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_network_state(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Manager *m = userdata;

        /* Before manager_startup() (a unit test's Manager) there is no Network yet: down. */
        return sd_bus_message_append(
                        reply, "s", network_state_to_string(m->network ? m->network->state : NETWORK_DOWN));
}

static int property_get_slots(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) m->config.net.n_slots);
}

static int property_get_instance_count(
                sd_bus *bus,
                const char *path,
                const char *interface,
                const char *property,
                sd_bus_message *reply,
                void *userdata,
                sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) m->n_instances);
}

static int reply_network_error_text(sd_bus_message *message, const char *what, const char *error) {
        return sd_bus_reply_method_errorf(
                        message,
                        BUS_ERROR_NETWORK_FAILED,
                        "%s failed: %s. See 'journalctl -u cuttlefish-host-resources' and "
                        "'cfctl network status' for details.",
                        what,
                        error ?: "see the service log");
}

static int reply_network_error(sd_bus_message *message, Manager *m, const char *what) {
        return reply_network_error_text(message, what, m->network->error);
}

typedef struct NetworkReply {
        sd_bus_message *message;
        const char *what;
} NetworkReply;

static void on_network_done(int r, const char *error, void *userdata) {
        NetworkReply *nr = userdata;

        if (r < 0)
                (void) reply_network_error_text(nr->message, nr->what, error);
        else
                (void) sd_bus_reply_method_return(nr->message, NULL);
        sd_bus_message_unref(nr->message);
        free(nr);
}

/* The reply once the network has reached the end state of the change (dnsmasq children being
 * stopped hold it back: network_call_when_done()). */
static int reply_network_done(sd_bus_message *message, Manager *m, const char *what) {
        NetworkReply *nr;
        int r;

        nr = malloc(sizeof(NetworkReply));
        if (!nr)
                return -ENOMEM;
        *nr = (NetworkReply){ .message = sd_bus_message_ref(message), .what = what };
        r = network_call_when_done(m->network, on_network_done, nr);
        if (r > 0)
                return 1;
        sd_bus_message_unref(nr->message);
        free(nr);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_setup_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(&m->auth, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        log_info("SetupNetwork() requested.");
        r = network_setup(m->network, &m->config.net);
        if (r < 0)
                return reply_network_error(message, m, "Network setup");
        return reply_network_done(message, m, "Network setup");
}

static int method_teardown_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(&m->auth, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (m->n_instances > 0)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_STATE,
                                "%u instances hold slots on this network. Remove them first "
                                "('cfctl list', 'cfctl rm N').",
                                m->n_instances);

        log_info("TeardownNetwork() requested.");
        r = network_teardown(m->network);
        if (r < 0)
                return reply_network_error(message, m, "Network teardown");
        return reply_network_done(message, m, "Network teardown");
}

static int method_reload(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *e = NULL;
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(&m->auth, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        log_info("Reload() requested.");
        r = manager_reload(m, &e);
        if (e && *e && e[strlen(e) - 1] == '.')
                e[strlen(e) - 1] = 0;
        if (r == -EBADMSG)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_INVALID_CONFIG,
                                "%s. The running configuration is unchanged; fix the file and reload again.",
                                strempty(e));
        if (r < 0)
                return reply_network_error(message, m, "Reload");
        return reply_network_done(message, m, "Reload");
}

static int method_describe_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        Manager *m = userdata;
        int r;

        r = network_describe(m->network, &m->config.net, &o);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(
                        message, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* The GPU mode, against what the host probe found. Before its first result, the call waits for
 * it and comes back here: 0 resolved, 1 waiting, <0 error. */
static int create_resolve_gpu(Manager *m, sd_bus_message *message, InstanceSpec *spec, sd_bus_error *error) {
        _cleanup_free_ char *e = NULL, *gpu = NULL;
        int r;

        if (!m->host_probe->done && gpu_mode_resolve(spec->gpu_mode, spec->backend, NULL, &gpu, NULL) < 0) {
                r = host_probe_wait(m->host_probe, message);
                if (r == -ENOBUFS)
                        return sd_bus_error_setf(
                                        error,
                                        SD_BUS_ERROR_LIMITS_EXCEEDED,
                                        "Too many calls are waiting for the host probe; try again "
                                        "in a few seconds.");
                if (r < 0)
                        return r;
                return 1;
        }
        gpu = mfree(gpu);
        r = gpu_mode_resolve(
                        spec->gpu_mode,
                        spec->backend,
                        m->host_probe->done ? &m->host_probe->gpu : NULL,
                        &gpu,
                        &e);
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_GPU_MODE_UNAVAILABLE,
                                "Option 'gpu_mode': %s.",
                                strempty(e));
        if (r < 0)
                return sd_bus_error_setf(
                                error, BUS_ERROR_INVALID_OPTION, "Option 'gpu_mode': %s.", strempty(e));
        free(spec->gpu_mode);
        spec->gpu_mode = TAKE_PTR(gpu);
        return 0;
}

/* Who the VMM runs as: the caller's uid, primary group and supplementary groups. */
static int create_caller_ids(
                sd_bus_message *message,
                uid_t *ret_uid,
                gid_t *ret_gid,
                gid_t *groups,
                int *n_groups,
                sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const gid_t *g = NULL;
        uid_t uid;
        gid_t gid;
        int r, n;

        r = sd_bus_query_sender_creds(
                        message,
                        SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS,
                        &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        /* dbus-daemon reports uid and supplementary groups, not the EGID: then the primary group
         * from the user database is what the VMM runs with. */
        r = sd_bus_creds_get_egid(creds, &gid);
        if (r < 0) {
                struct passwd *pw = getpwuid(uid);

                if (!pw)
                        return sd_bus_error_setf(
                                        error,
                                        SD_BUS_ERROR_ACCESS_DENIED,
                                        "uid %u has no entry in the user database; cannot run a VMM as it.",
                                        (unsigned) uid);
                gid = pw->pw_gid;
        }
        n = sd_bus_creds_get_supplementary_gids(creds, &g);
        if (n > 0 && n <= *n_groups)
                memcpy(groups, g, (size_t) n * sizeof(gid_t));
        else {
                /* libsystemd 252 does not read the group list dbus-daemon reports: the VMM gets the
                 * user's groups from the user database instead (kvm, cvdnetwork, image groups). */
                struct passwd *pw = getpwuid(uid);

                n = *n_groups;
                if (!pw || getgrouplist(pw->pw_name, gid, groups, &n) < 0)
                        n = 0;
        }
        *n_groups = n;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* Backend, quota, network: 0 the create may go on, <0 the error is set. */
static int create_check_limits(Manager *m, const InstanceSpec *spec, uid_t uid, sd_bus_error *error) {

        if (!backend_ops(spec->backend))
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_BACKEND_UNAVAILABLE,
                                "The %s backend is not available in this version. Use backend 'qemu'.",
                                backend_to_string(spec->backend));
        if (uid != 0 && manager_count_instances_of(m, uid) >= m->config.max_instances_per_user)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_QUOTA_EXCEEDED,
                                "uid %u already has %u instances, the most allowed "
                                "(max_instances_per_user). Remove one first ('cfctl rm N').",
                                (unsigned) uid,
                                m->config.max_instances_per_user);
        {
                _cleanup_free_ char *why = NULL;

                if (manager_check_disk_quota(m, uid, &why) < 0)
                        return sd_bus_error_setf(error, BUS_ERROR_QUOTA_EXCEEDED, "%s.", strempty(why));
        }
        if (m->network->state != NETWORK_UP && m->network->state != NETWORK_DEGRADED)
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_NETWORK_DOWN,
                                "The host network is %s. Bring it up first: 'cfctl network up'.",
                                network_state_to_string(m->network->state));
        return 0;
}

static int method_create_instance(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(instance_spec_done) InstanceSpec spec = {};
        _cleanup_(instance_freep) Instance *i = NULL;
        _cleanup_free_ char *e = NULL;
        gid_t groups[NGROUPS_MAX_LOCAL];
        int n_groups = (int) ELEMENTSOF(groups), r;
        Manager *m = userdata;
        unsigned slot;
        uid_t uid = 0;
        gid_t gid = 0;

        /* read -> validate -> limits -> authorize -> act -> reply */
        r = instance_spec_from_message(message, m->config.default_backend, &spec, error);
        if (r < 0)
                return r;
        r = create_resolve_gpu(m, message, &spec, error);
        if (r != 0)
                return r;
        r = create_caller_ids(message, &uid, &gid, groups, &n_groups, error);
        if (r < 0)
                return r;
        r = create_check_limits(m, &spec, uid, error);
        if (r < 0)
                return r;

        r = bus_verify_auth_async(&m->auth, message, AUTH_ACTION_CREATE_INSTANCE, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = manager_allocate_slot(m, spec.number, &slot, &e);
        if (r == -ENOSPC)
                return sd_bus_error_setf(error, BUS_ERROR_NO_FREE_SLOT, "No free slot: %s.", strempty(e));
        if (r < 0)
                return sd_bus_error_setf(
                                error, BUS_ERROR_SLOT_BUSY, "Cannot use that slot: %s.", strempty(e));

        r = instance_new(m, slot, uid, gid, groups, (size_t) n_groups, &spec, &i);
        if (r < 0)
                return r;
        Instance *added = TAKE_PTR(i);
        (void) manager_add_instance(m, added);
        /* Written right after this call, with state.json: its fsync is not the caller's wait. */
        added->definition_unsaved = true;
        log_info("Instance %u (uid %u): created (%s)",
                 slot,
                 (unsigned) uid,
                 backend_to_string(added->spec.backend));

        if (added->spec.start) {
                r = instance_start(added, &e);
                if (r < 0) {
                        manager_remove_instance(m, added);
                        return sd_bus_error_setf(
                                        error,
                                        BUS_ERROR_SPAWN_FAILED,
                                        "The VMM did not start: %s. Nothing was kept; fix it and "
                                        "create the instance again.",
                                        strempty(e));
                }
                /* Answered once the VMM has exec'd, or with the reason it could not. */
                added->start_reply = sd_bus_message_ref(message);
                added->start_reply_create = true;
                return 1;
        }

        instance_enter_created(added);
        return sd_bus_reply_method_return(message, "uo", slot, added->object_path);
}

static int method_list_instances(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(uusso)");
        if (r < 0)
                return r;
        for (unsigned n = 1; n <= NET_SLOTS_MAX; n++) {
                Instance *i = m->instances[n];

                if (!i)
                        continue;
                r = sd_bus_message_append(
                                reply,
                                "(uusso)",
                                i->number,
                                (uint32_t) i->owner,
                                instance_state_to_string(i->state),
                                instance_reason_to_string(i->reason),
                                i->object_path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int get_instance_arg(sd_bus_message *message, Manager *m, Instance **ret, sd_bus_error *error) {
        uint32_t n;
        int r;

        r = sd_bus_message_read(message, "u", &n);
        if (r < 0)
                return r;
        if (n < 1 || n > NET_SLOTS_MAX || !m->instances[n])
                return sd_bus_error_setf(
                                error,
                                BUS_ERROR_NO_SUCH_INSTANCE,
                                "No instance %u. 'cfctl list' shows the instances that exist.",
                                n);
        *ret = m->instances[n];
        return 0;
}

static int method_get_instance(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = NULL;
        int r;

        r = get_instance_arg(message, userdata, &i, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "o", i->object_path);
}

static int method_stop_instance(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = NULL;
        int r;

        r = get_instance_arg(message, userdata, &i, error);
        if (r < 0)
                return r;
        return bus_instance_stop(i, message, error);
}

static int method_remove_instance(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Instance *i = NULL;
        int r;

        r = get_instance_arg(message, userdata, &i, error);
        if (r < 0)
                return r;
        return bus_instance_remove(i, message, error);
}

static struct json_object *issue_to_json(const HostIssue *it) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "check", json_object_new_string(it->check));
        json_object_object_add(o, "result", json_object_new_string(it->problem ? "problem" : "note"));
        json_object_object_add(o, "detail", json_object_new_string(it->detail));
        json_object_object_add(o, "fix", it->fix ? json_object_new_string(it->fix) : NULL);
        return o;
}

/* How this host's VMM trees are contained and ended: "layout" (cgroup2, hybrid, v1, none), "kill"
 * (cgroup.kill, freezer, signals, none), "subtree" and the "dirs" of it in each hierarchy. */
static struct json_object *cgroup_to_json(const CgroupLayout *l) {
        struct json_object *o = json_object_new_object(), *dirs = json_object_new_array();

        json_object_object_add(o, "layout", json_object_new_string(cgroup_layout_name(l)));
        json_object_object_add(o, "kill", json_object_new_string(cgroup_layout_kill_method(l)));
        json_object_object_add(o, "subtree", l->parent ? json_object_new_string(l->parent) : NULL);
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                if (l->dirs[k])
                        json_object_array_add(dirs, json_object_new_string(l->dirs[k]));
        json_object_object_add(o, "dirs", dirs);
        return o;
}

static int method_describe_host(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
        _cleanup_(host_issues_done) HostIssues issues = {};
        struct json_object *kvm, *conflicts = json_object_new_array(), *arr = json_object_new_array(),
                                 *probe, *v;
        Manager *m = userdata;
        HostProbe *hp = m->host_probe;
        int r;

        r = host_describe(o);
        if (r < 0)
                return r;
        /* The worker's results: versions, whether KVM really works, GPU modes. */
        if (hp->result && json_object_object_get_ex(hp->result, "backends", &v))
                json_object_object_add(o, "backends", json_object_get(v));
        if (json_object_object_get_ex(o, "kvm", &kvm)) {
                struct json_object *pk;

                json_object_object_add(
                                kvm,
                                "usable",
                                m->kvm_usable < 0 ? NULL : json_object_new_boolean(m->kvm_usable > 0));
                if (hp->result && json_object_object_get_ex(hp->result, "kvm", &pk) &&
                    json_object_object_get_ex(pk, "reason", &v) && v)
                        json_object_object_add(kvm, "reason", json_object_get(v));
        }
        STRV_FOREACH (s, m->network->conflicts)
                json_object_array_add(conflicts, json_object_new_string(*s));
        json_object_object_add(o, "conflicts", conflicts);
        json_object_object_add(o, "cgroup", cgroup_to_json(&m->cgroups));
        json_object_object_add(o, "gpu_modes", hp->done ? gpu_probe_to_json(&hp->gpu) : NULL);

        probe = json_object_new_object();
        json_object_object_add(
                        probe,
                        "state",
                        json_object_new_string(
                                        !hp->done                   ? "running"
                                                        : hp->error ? "failed"
                                                                    : "done"));
        json_object_object_add(probe, "error", hp->error ? json_object_new_string(hp->error) : NULL);
        json_object_object_add(o, "probe", probe);

        r = network_host_issues(m->network, &m->config.net, &issues);
        if (r < 0)
                log_debug_errno(r, "Host checks failed: %m");
        for (size_t k = 0; k < issues.n; k++)
                json_object_array_add(arr, issue_to_json(&issues.items[k]));
        json_object_object_add(o, "issues", arr);

        json_object_object_add(
                        o,
                        "network_state",
                        json_object_new_string(network_state_to_string(m->network->state)));
        return sd_bus_reply_method_return(
                        message, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* clang-format off */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NetworkState", "s", property_get_network_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Slots", "u", property_get_slots, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InstanceCount", "u", property_get_instance_count, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("CreateInstance", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("u", number, "o", path), method_create_instance, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListInstances", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(uusso)", instances), method_list_instances, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetInstance", SD_BUS_ARGS("u", number), SD_BUS_RESULT("o", path), method_get_instance, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopInstance", SD_BUS_ARGS("u", number), SD_BUS_NO_RESULT, method_stop_instance, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveInstance", SD_BUS_ARGS("u", number), SD_BUS_NO_RESULT, method_remove_instance, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetupNetwork", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_setup_network, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TeardownNetwork", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_teardown_network, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DescribeNetwork", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_describe_network, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DescribeHost", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_describe_host, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("InstanceNew", SD_BUS_ARGS("u", number, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("InstanceRemoved", SD_BUS_ARGS("u", number, "o", path), 0),
        SD_BUS_VTABLE_END
};
/* clang-format on */

int bus_register_objects(Manager *m, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, MANAGER_PATH, MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register manager object: %m");
        r = bus_register_instances(m, bus);
        if (r < 0)
                return log_error_errno(r, "Failed to register instance objects: %m");
        r = sd_bus_add_object_manager(bus, NULL, MANAGER_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to add object manager: %m");
        return 0;
}

static bool manager_bus_ready(Manager *m) {
        return m->bus && sd_bus_is_ready(m->bus) > 0;
}

int manager_connect_bus(Manager *m) {
        int r;

        r = sd_bus_default_system(&m->bus);
        if (r < 0)
                return log_error_errno(
                                r,
                                "Failed to connect to the system bus: %m. Is dbus running? "
                                "(DBUS_SYSTEM_BUS_ADDRESS selects another bus.)");

        r = sd_bus_error_add_map(cf_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");

        r = bus_register_objects(m, m->bus);
        if (r < 0)
                return r;

        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(
                                r,
                                "%s is already owned on this bus: another cuttlefish-host-resourcesd "
                                "is running. Stop it first.",
                                BUS_NAME);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(
                                r,
                                "Not allowed to own %s: install the bus policy "
                                "org.cuttlefish.HostResources1.conf into /usr/share/dbus-1/system.d/.",
                                BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", BUS_NAME);

        /* Lost the bus (or it dropped us): exit, so the service manager restarts us, rather than
         * run deaf. Running guests are re-adopted by the next start. */
        (void) sd_bus_set_exit_on_disconnect(m->bus, true);

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach bus to event loop: %m");
        return 0;
}

void manager_network_changed(Manager *m) {
        manager_update_status(m);
        if (!manager_bus_ready(m))
                return;
        (void) sd_bus_emit_properties_changed(
                        m->bus, MANAGER_PATH, MANAGER_INTERFACE, "NetworkState", "Slots", NULL);
}

void manager_bus_emit_instance_new(Manager *m, Instance *i) {
        if (!manager_bus_ready(m))
                return;
        (void) sd_bus_emit_signal(
                        m->bus,
                        MANAGER_PATH,
                        MANAGER_INTERFACE,
                        "InstanceNew",
                        "uo",
                        i->number,
                        i->object_path);
        (void) sd_bus_emit_object_added(m->bus, i->object_path);
        manager_bus_emit_instance_count(m);
}

void manager_bus_emit_instance_removed(Manager *m, Instance *i) {
        if (!manager_bus_ready(m))
                return;
        (void) sd_bus_emit_object_removed(m->bus, i->object_path);
        (void) sd_bus_emit_signal(
                        m->bus,
                        MANAGER_PATH,
                        MANAGER_INTERFACE,
                        "InstanceRemoved",
                        "uo",
                        i->number,
                        i->object_path);
}

void manager_bus_emit_instance_count(Manager *m) {
        if (!manager_bus_ready(m))
                return;
        (void) sd_bus_emit_properties_changed(
                        m->bus, MANAGER_PATH, MANAGER_INTERFACE, "InstanceCount", NULL);
}
