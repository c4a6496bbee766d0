/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One-line enum string tables, as systemd's src/basic/string-table.h: over
 *
 *         static const char *const gpu_mode_table[_GPU_MODE_MAX] = { [GPU_MODE_NONE] = "none", ... };
 *         DEFINE_STRING_TABLE_LOOKUP(gpu_mode, GpuMode);
 *
 * gives gpu_mode_to_string(GpuMode) (NULL out of range) and gpu_mode_from_string(const char *)
 * (-EINVAL, the enum's _INVALID, for NULL or an unknown string). The PRIVATE variants are static. */

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/macro.h"

/* The index of s in table[0..n), never that of a NULL entry; -EINVAL if none (or s is NULL). */
static inline ssize_t string_table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (ssize_t) i;
        return -EINVAL;
}

/* The cast to size_t also sends negative values (the _INVALID) out of range. */
#define _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, scope) \
        scope const char *name##_to_string(type i) {             \
                if ((size_t) i >= ELEMENTSOF(name##_table))      \
                        return NULL;                             \
                return name##_table[i];                          \
        }

#define _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, scope)                            \
        scope type name##_from_string(const char *s) {                                        \
                return (type) string_table_lookup(name##_table, ELEMENTSOF(name##_table), s); \
        }

#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type) _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, )
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, )
#define DEFINE_STRING_TABLE_LOOKUP(name, type)           \
        DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
        DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)

#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, static _unused_)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(name, type) \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, static _unused_)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP(name, type)           \
        DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(name, type) \
        DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)
