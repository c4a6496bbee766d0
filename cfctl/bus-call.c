/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <string.h>

#include "cfctl/bus-call.h"
#include "cfctl/cfctl.h"
#include "common/bus-api.h"
#include "common/log.h"
#include "common/macro.h"

int bus_call_log_error(const BusCall *c, int r, const sd_bus_error *error) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return log_error_errno(
                                r,
                                "Failed to %s: the service is not running. Start it with "
                                "'systemctl start cuttlefish-host-resources'.",
                                c->what);
        if (c->instance > 0 &&
            sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD))
                return log_error_errno(-ENOENT, NO_INSTANCE_MESSAGE, c->instance);
        return log_error_errno(
                        r,
                        "Failed to %s: %s",
                        c->what,
                        error && error->message ? error->message : strerror(-r));
}

int bus_call_new(sd_bus *bus, const BusCall *c, sd_bus_message **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        path = c->instance > 0 ? cf_instance_path(c->instance) : strdup(MANAGER_PATH);
        if (!path)
                return log_oom();
        r = sd_bus_message_new_method_call(
                        bus,
                        ret,
                        BUS_NAME,
                        path,
                        c->interface ?: (c->instance > 0 ? INSTANCE_INTERFACE : MANAGER_INTERFACE),
                        c->method);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s() call: %m", c->method);
        r = sd_bus_message_set_allow_interactive_authorization(
                        *ret, (c->flags & BUS_CALL_MAY_AUTHORIZE) && arg_ask_password);
        if (r < 0) {
                *ret = sd_bus_message_unref(*ret);
                return log_error_errno(r, "Failed to create %s() call: %m", c->method);
        }
        return 0;
}

int bus_call_send(sd_bus *bus, const BusCall *c, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, BUS_CALL_TIMEOUT_USEC, &error, ret_reply);
        if (r < 0)
                return bus_call_log_error(c, r, &error);
        return 0;
}

int bus_call(sd_bus *bus, const BusCall *c, sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bus_call_new(bus, c, &m);
        if (r < 0)
                return r;
        if (types) {
                va_list ap;

                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s() call: %m", c->method);
        }
        return bus_call_send(bus, c, m, ret_reply);
}

int bus_call_json(sd_bus *bus, const char *method, const char *what, struct json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct json_object *o;
        const char *text;
        int r;

        r = bus_call(bus, &(const BusCall){ .method = method, .what = what }, &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to parse reply: %m");
        o = json_tokener_parse(text);
        if (!o)
                return log_error_errno(-EBADMSG, "The service sent malformed JSON.");
        *ret = o;
        return 0;
}
