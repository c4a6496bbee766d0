/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Without libFuzzer: run LLVMFuzzerTestOneInput once on each file named on the command line, so
 * every corpus file is a plain regression test (STYLE.md §18). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "common/fileio.h"
#include "common/macro.h"

int main(int argc, char *argv[]) {
        if (argc < 2) {
                fprintf(stderr, "Usage: %s FILE...\n", argv[0]);
                return EXIT_FAILURE;
        }

        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *data = NULL;
                size_t size;
                int r;

                r = read_full_file(argv[i], &data, &size);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        return EXIT_FAILURE;
                }
                printf("%s (%zu bytes)... ", argv[i], size);
                fflush(stdout);
                (void) LLVMFuzzerTestOneInput((const uint8_t *) data, size);
                printf("ok\n");
        }
        return EXIT_SUCCESS;
}
