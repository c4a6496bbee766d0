/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cfctl/json.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strv.h"

struct json_object *json_get(struct json_object *o, const char *key) {
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

const char *json_get_string(struct json_object *o, const char *key) {
        struct json_object *v = json_get(o, key);

        return v ? json_object_get_string(v) : NULL;
}

int64_t json_get_int64(struct json_object *o, const char *key) {
        struct json_object *v = json_get(o, key);

        return v ? json_object_get_int64(v) : 0;
}

bool json_get_bool(struct json_object *o, const char *key) {
        struct json_object *v = json_get(o, key);

        return v && json_object_get_boolean(v);
}

/* The variant at m's read position as JSON (*ret NULL for a type we do not show). */
static int json_from_bus_variant(sd_bus_message *m, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *v = NULL;
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        if (streq(contents, "s") || streq(contents, "o")) {
                const char *s;
                r = sd_bus_message_read_basic(m, contents[0], &s);
                if (r >= 0)
                        v = json_object_new_string(s);
        } else if (streq(contents, "u")) {
                uint32_t u;
                r = sd_bus_message_read_basic(m, 'u', &u);
                v = json_object_new_int64(u);
        } else if (streq(contents, "i")) {
                int32_t i;
                r = sd_bus_message_read_basic(m, 'i', &i);
                v = json_object_new_int(i);
        } else if (streq(contents, "t")) {
                uint64_t t;
                r = sd_bus_message_read_basic(m, 't', &t);
                v = json_object_new_int64((int64_t) t);
        } else if (streq(contents, "b")) {
                int b;
                r = sd_bus_message_read_basic(m, 'b', &b);
                v = json_object_new_boolean(b);
        } else if (streq(contents, "as")) {
                _cleanup_(strv_freep) char **l = NULL;
                r = sd_bus_message_read_strv(m, &l);
                v = json_object_new_array();
                STRV_FOREACH (s, l)
                        json_object_array_add(v, json_object_new_string(*s));
        } else
                r = sd_bus_message_skip(m, contents);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int json_add_bus_properties(struct json_object *o, sd_bus_message *m) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                struct json_object *v = NULL;
                const char *name;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = json_from_bus_variant(m, &v);
                if (r < 0)
                        return r;
                json_object_object_add(o, name, v);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}
