/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cfctl's one way to read JSON (the service's Describe* answers, instance properties) and to turn
 * D-Bus properties into JSON. The getters accept a NULL object and a missing key. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

/* The value of key in o; NULL when o is NULL or not an object, or key is missing or null. */
struct json_object *json_get(struct json_object *o, const char *key);
/* Its string form (numbers and booleans converted); NULL when missing. */
const char *json_get_string(struct json_object *o, const char *key);
/* As a number; 0 when missing. */
int64_t json_get_int64(struct json_object *o, const char *key);
/* As a boolean; false when missing. */
bool json_get_bool(struct json_object *o, const char *key);

/* Adds each property of the a{sv} at m's read position to o: strings, object paths, numbers,
 * booleans and string arrays as such, any other type as null. */
int json_add_bus_properties(struct json_object *o, sd_bus_message *m);
