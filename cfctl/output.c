/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "cfctl/cfctl.h"
#include "cfctl/output.h"

void output_json(struct json_object *o) {
        int flags = arg_json == JSON_SHORT ? JSON_C_TO_STRING_PLAIN
                                           : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;

        puts(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}
