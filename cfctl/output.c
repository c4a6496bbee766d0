/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfctl/cfctl.h"
#include "cfctl/output.h"

struct Table {
        const TableColumn *columns;
        size_t n_columns;
        char **cells; /* n_cells of them, row by row */
        size_t n_cells, allocated;
        int error; /* a cell was lost */
};

int table_new(const TableColumn *columns, size_t n_columns, Table **ret) {
        Table *t;

        if (n_columns == 0)
                return -EINVAL;
        t = calloc(1, sizeof(Table));
        if (!t)
                return -ENOMEM;
        t->columns = columns;
        t->n_columns = n_columns;
        *ret = t;
        return 0;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t k = 0; k < t->n_cells; k++)
                free(t->cells[k]);
        free(t->cells);
        return mfree(t);
}

/* Takes s (malloc'd; NULL: out of memory). */
static void table_add_cell_take(Table *t, char *s) {
        if (s && t->n_cells == t->allocated) {
                size_t n = MAX(t->allocated * 2, (size_t) 16);
                char **c = reallocarray(t->cells, n, sizeof(char *));

                if (c) {
                        t->cells = c;
                        t->allocated = n;
                } else
                        s = mfree(s);
        }
        if (!s) {
                t->error = -ENOMEM;
                return;
        }
        t->cells[t->n_cells++] = s;
}

void table_add_cell(Table *t, const char *s) {
        table_add_cell_take(t, strdup(strempty(s)));
}

void table_add_cellf(Table *t, const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        table_add_cell_take(t, r < 0 ? NULL : s);
}

size_t table_get_rows(const Table *t) {
        return t->n_cells / t->n_columns;
}

static void table_print_cell(const TableColumn *c, const char *s, bool last) {
        switch (c->align) {
        case TABLE_ALIGN_LEFT:
                if (last)
                        fputs(s, stdout);
                else
                        printf("%-*s", (int) c->width, s);
                break;
        case TABLE_ALIGN_RIGHT:
                printf("%*s", (int) c->width, s);
                break;
        case _TABLE_ALIGN_MAX:
        case _TABLE_ALIGN_INVALID:
                abort();
        }
        putchar(last ? '\n' : ' ');
}

int table_print(const Table *t, bool header) {
        bool any = false;

        if (t->error < 0)
                return t->error;
        for (size_t k = 0; k < t->n_columns; k++)
                any = any || t->columns[k].header;
        for (size_t k = 0; header && any && k < t->n_columns; k++)
                table_print_cell(&t->columns[k], strempty(t->columns[k].header), k + 1 == t->n_columns);
        for (size_t k = 0; k < table_get_rows(t) * t->n_columns; k++)
                table_print_cell(&t->columns[k % t->n_columns], t->cells[k], (k + 1) % t->n_columns == 0);
        return 0;
}

void output_json(struct json_object *o) {
        int flags = arg_json == JSON_SHORT ? JSON_C_TO_STRING_PLAIN
                                           : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;

        puts(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}
