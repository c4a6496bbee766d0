/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.json's parser, state_parse(), on any bytes: no crash, no leak; every record it keeps is
 * one the daemon could have written (a slot number in range and unique, an owner that is a real
 * id, a spec within the CreateInstance limits), so re-adoption never acts on nonsense; and what it
 * keeps the writer writes back to the same records (format, parse, format: the same text). The
 * file lives in a root-only directory, but a crash or a full disk can leave it torn. */
#undef NDEBUG
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon/state.h"
#include "tests/fuzz/fuzz.h"
#include "common/log.h"
#include "netsetup/plan.h"
#include "common/macro.h"

#define INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *error = NULL, *again = NULL, *error2 = NULL, *twice = NULL;
        StateRecord *records = NULL, *records2 = NULL;
        bool seen[NET_SLOTS_MAX + 1] = {};
        size_t n = 0, n2 = 0;
        int r;

        if (size > INPUT_MAX)
                return 0;
        if (!getenv("FUZZ_SHOW"))
                log_set_max_level(LOG_EMERG);
        text = strndup((const char *) data, size);
        assert(text);

        r = state_parse(text, &records, &n, &error);
        assert(r >= 0 || r == -EBADMSG || r == -ENOMEM);
        if (r == -ENOMEM)
                return 0;
        /* A reason whenever something was refused, and only then. */
        assert((r != 0) == !!error);
        if (r < 0)
                return 0;
        for (size_t k = 0; k < n; k++) {
                const StateRecord *s = &records[k];

                assert(s->number >= 1 && s->number <= NET_SLOTS_MAX);
                assert(!seen[s->number]);
                seen[s->number] = true;
                assert(s->owner != (uid_t) -1 && s->gid != (gid_t) -1);
                assert(s->pid >= 0);
                assert(s->n_groups <= STATE_GROUPS_MAX);
                assert(instance_spec_check(&s->spec, NULL) == 0);
        }

        assert(state_format(records, n, &again) == 0);
        assert(state_parse(again, &records2, &n2, &error2) == 0);
        assert(n2 == n && !error2);
        assert(state_format(records2, n2, &twice) == 0);
        assert(streq(again, twice));

        state_records_free(records, n);
        state_records_free(records2, n2);
        return 0;
}
