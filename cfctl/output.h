/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What cfctl prints on stdout: tables (list, network, doctor) and JSON (--json). A table has
 * columns of a fixed minimum width: a longer cell widens its row only, as printf's "%-8s" does,
 * and the last column is not padded when left-aligned. Call -> table -> show, as machinectl. */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

typedef enum TableAlign {
        TABLE_ALIGN_LEFT,
        TABLE_ALIGN_RIGHT,
        _TABLE_ALIGN_MAX,
        _TABLE_ALIGN_INVALID = -EINVAL,
} TableAlign;

typedef struct TableColumn {
        const char *header; /* NULL in every column: the table has no header line */
        unsigned width;
        TableAlign align;
} TableColumn;

typedef struct Table Table;

/* columns must outlive the table. */
int table_new(const TableColumn *columns, size_t n_columns, Table **ret);
Table *table_free(Table *t);
DEFINE_CLEANUP(Table *, table_free);

/* Cells fill the rows left to right (s NULL: an empty cell). A cell lost for want of memory is
 * reported by table_print(), as ferror() reports a lost write. */
void table_add_cell(Table *t, const char *s);
void table_add_cellf(Table *t, const char *format, ...) _printf_(2, 3);
size_t table_get_rows(const Table *t);
/* The header line (when asked for and the columns have one), then the rows; -ENOMEM, printing
 * nothing, when a cell was lost. */
int table_print(const Table *t, bool header);

/* o in the --json mode asked for (pretty or short), and a newline. */
void output_json(struct json_object *o);
