/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "bus-auth.h"
#include "macro.h"

int bus_verify_auth_async(Manager *m, sd_bus_message *message, const char *action, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t euid;
        int r;

        /* Identity from the bus (the kernel's SO_PEERCRED via the broker), never from arguments. */
        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &euid);
        if (r < 0)
                return r;
        if (euid == 0)
                return 1;

        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Only root may do this (%s). Run the command with sudo.", action);
}
