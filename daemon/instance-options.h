/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "spec.h"

/* Reads CreateInstance's a{sv} from m into ret. Every key is checked for a known name, the
 * right type, its range, and absolute paths; the first problem is an InvalidOption error that
 * names the key and what to do. Nothing is opened: paths are only checked for shape. */
int instance_spec_from_message(
                sd_bus_message *m, Backend default_backend, InstanceSpec *ret, sd_bus_error *error);
