/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "build-config.h"

#include "json-util.h"

#include "bus-auth.h"
#include "bus-errors.h"
#include "log.h"
#include "manager.h"
#include "util.h"

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_network_state(sd_bus *bus, const char *path, const char *interface,
                                      const char *property, sd_bus_message *reply, void *userdata,
                                      sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", network_state_to_string(m->network->state));
}

static int property_get_slots(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) m->config.net.n_slots);
}

static int property_get_instance_count(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) m->n_instances);
}

static int reply_network_error(sd_bus_message *message, Manager *m, const char *what) {
        return sd_bus_reply_method_errorf(message, BUS_ERROR_NETWORK_FAILED,
                                          "%s failed: %s. See 'journalctl -u cuttlefish-host-resources' and "
                                          "'cfctl network status' for details.",
                                          what, m->network->error ?: "see the service log");
}

static int method_setup_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(m, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        log_info("SetupNetwork() requested.");
        r = network_setup(m->network, &m->config.net);
        if (r < 0)
                return reply_network_error(message, m, "Network setup");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_teardown_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(m, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        if (m->n_instances > 0)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_STATE,
                                         "%u instances are running on this network. Stop them first "
                                         "('cfctl list', 'cfctl stop N').", m->n_instances);

        log_info("TeardownNetwork() requested.");
        r = network_teardown(m->network);
        if (r < 0)
                return reply_network_error(message, m, "Network teardown");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_reload(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *e = NULL;
        Manager *m = userdata;
        int r;

        r = bus_verify_auth_async(m, message, AUTH_ACTION_MANAGE_NETWORK, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        log_info("Reload() requested.");
        r = manager_reload(m, &e);
        if (e && *e && e[strlen(e) - 1] == '.')
                e[strlen(e) - 1] = 0;
        if (r == -EINVAL)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_CONFIG,
                                         "%s. The running configuration is unchanged; fix the file and reload again.",
                                         strempty(e));
        if (r < 0)
                return reply_network_error(message, m, "Reload");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_describe_network(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        Manager *m = userdata;
        int r;

        r = network_describe(m->network, &o);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NetworkState", "s", property_get_network_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Slots", "u", property_get_slots, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InstanceCount", "u", property_get_instance_count, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("SetupNetwork", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_setup_network,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TeardownNetwork", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_teardown_network,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DescribeNetwork", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json),
                                method_describe_network, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int bus_register_objects(Manager *m, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, MANAGER_PATH, MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register manager object: %m");
        r = sd_bus_add_object_manager(bus, NULL, MANAGER_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to add object manager: %m");
        return 0;
}

int manager_connect_bus(Manager *m) {
        int r;

        r = sd_bus_default_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m. Is dbus running? "
                                          "(DBUS_SYSTEM_BUS_ADDRESS selects another bus.)");

        r = sd_bus_error_add_map(cf_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");

        r = bus_register_objects(m, m->bus);
        if (r < 0)
                return r;

        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "%s is already owned on this bus: another cuttlefish-host-resourcesd "
                                          "is running. Stop it first.", BUS_NAME);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Not allowed to own %s: install the bus policy "
                                          "org.cuttlefish.HostResources1.conf into /usr/share/dbus-1/system.d/.",
                                          BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name %s: %m", BUS_NAME);

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach bus to event loop: %m");
        return 0;
}

void manager_network_changed(Manager *m) {
        manager_update_status(m);
        if (!m->bus || sd_bus_is_ready(m->bus) <= 0)
                return;
        (void) sd_bus_emit_properties_changed(m->bus, MANAGER_PATH, MANAGER_INTERFACE, "NetworkState", "Slots", NULL);
}
