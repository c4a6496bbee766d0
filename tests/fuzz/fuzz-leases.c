/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dnsmasq's lease file parser on any bytes: no crash, no leak; every lease it keeps has a
 * well-formed address and a printable host name, and there are never more leases than lines.
 * (dnsmasq writes the file, but guests choose the host names and client ids in it.) */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/dnsmasq.h"
#include "tests/fuzz/fuzz.h"
#include "common/macro.h"

#define INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ DnsmasqLease *leases = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = 0, lines = 1;
        int r;

        if (size > INPUT_MAX)
                return 0;
        /* The daemon reads the file as a C string: a NUL ends it there too. */
        text = strndup((const char *) data, size);
        assert(text);
        for (const char *p = text; *p; p++)
                lines += *p == '\n';

        r = dnsmasq_leases_parse(text, &leases, &n);
        assert(r == 0 || r == -ENOMEM);
        if (r < 0)
                return 0;
        assert(n <= lines);
        for (size_t k = 0; k < n; k++) {
                struct in6_addr a;

                assert(memchr(leases[k].ip, 0, sizeof(leases[k].ip)));
                assert(inet_pton(AF_INET, leases[k].ip, &a) == 1 ||
                       inet_pton(AF_INET6, leases[k].ip, &a) == 1);
                assert(memchr(leases[k].hostname, 0, sizeof(leases[k].hostname)));
                for (const char *h = leases[k].hostname; *h; h++)
                        assert((unsigned char) *h > ' ' && (unsigned char) *h < 0x7f);
        }
        return 0;
}
