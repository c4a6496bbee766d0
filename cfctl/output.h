/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What cfctl prints on stdout in JSON (--json). */

#include <json-c/json.h>

/* o in the --json mode asked for (pretty or short), and a newline. */
void output_json(struct json_object *o);
