/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cfctl's command line, cfctl_parse(), on any argument vector: no crash, no leak, an exit code
 * of 0 (--help, --version), 2 (usage error) or "go on" with a known verb and a valid argument
 * count; and cfctl_args_reset() restores the defaults for the next run.
 *
 * Input: the arguments after "cfctl", separated by NUL bytes (at most 64; an empty input is no
 * arguments). Nothing is sent to a bus: the parser stops before connecting. */
#undef NDEBUG
#include <assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cfctl/cfctl.h"
#include "tests/fuzz/fuzz.h"
#include "common/log.h"
#include "common/macro.h"

#define ARGS_MAX 64
#define INPUT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *buf = NULL;
        char *argv[ARGS_MAX + 2] = { (char *) "cfctl" };
        int argc = 1, verb, code, r;

        if (size > INPUT_MAX)
                return 0;
        /* Usage errors are the point; FUZZ_SHOW=1 shows them. */
        if (!getenv("FUZZ_SHOW"))
                log_set_max_level(LOG_EMERG);

        buf = malloc(size + 1);
        assert(buf);
        memcpy(buf, data, size);
        buf[size] = 0;
        for (size_t off = 0; size > 0 && off <= size && argc <= ARGS_MAX; argc++) {
                argv[argc] = buf + off;
                off += strlen(buf + off) + 1;
        }
        argv[argc] = NULL;

        r = cfctl_parse(argc, argv, &verb, &code);
        if (r > 0)
                assert(verb >= 0);
        else if (r == 0)
                assert(code == 0 && verb < 0);
        else
                assert(code == 2 && verb < 0);

        cfctl_args_reset();
        assert(arg_json == JSON_OFF && arg_legend && !arg_quiet && arg_ask_password && !arg_wait &&
               arg_timeout == 300 && !arg_follow && arg_signal == SIGTERM);
        return 0;
}
