/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "common/macro.h"

DEFINE_CLEANUP(struct json_object *, json_object_put);
