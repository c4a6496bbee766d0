/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration file parser on any bytes: no crash, no leak, and a result the rest of the
 * daemon can use (an accepted file yields a plan; a refused one a "fuzz:LINE: " message). */
#undef NDEBUG
#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* By path: a stale "config.h" in a build directory must not shadow ours. */
#include "daemon/config.h"
#include "netsetup/dnsmasq.h"
#include "tests/fuzz/fuzz.h"
#include "netsetup/nft.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_accepted(const Config *c) {
        _cleanup_(strv_freep) char **sources = NULL;
        _cleanup_free_ char *ruleset = NULL;
        const NetConfig *n = &c->net;
        BridgePlan bridges[NET_BRIDGES];

        assert(n->n_slots >= 1 && n->n_slots <= net_config_slot_capacity(n));
        assert(n->n_mobile_pools >= 1 && n->n_mobile_pools <= NET_POOLS_MAX);
        assert(n->n_wifiap_pools >= 1 && n->n_wifiap_pools <= NET_POOLS_MAX);
        assert(n->n_dns_servers <= NET_DNS_MAX && n->n_dns6_servers <= NET_DNS_MAX);
        assert(!n->ethernet_ipv6_prefix || n->ethernet_ipv6_prefix_length > 0);
        assert(!n->wifi_ipv6_prefix || n->wifi_ipv6_prefix_length > 0);
        assert(!n->bridge_interface || ifname_valid(n->bridge_interface));
        assert(n->firewall >= 0 && n->firewall < _FIREWALL_MAX);
        assert(c->default_backend >= 0 && c->default_backend < _BACKEND_MAX);

        /* Every slot's taps exist and have names; mobile and wifiap have a /30. */
        for (unsigned s = 1; s <= n->n_slots; s++)
                for (TapKind k = 0; k < _TAP_KIND_MAX; k++) {
                        char name[IFNAMSIZ];
                        Ipv4Slash30 a;

                        assert(slot_has_tap(n, s, k));
                        assert(slot_tap_name(s, k, name) == 0);
                        if (k == TAP_MOBILE || k == TAP_WIFIAP)
                                assert(slot_tap_ipv4(n, s, k, &a) == 0);
                }

        /* What the network code builds from it. */
        assert(net_config_nat_sources(n, &sources) == 0);
        assert(nft_build_ruleset(n, true, &ruleset) == 0);
        net_config_bridges(n, bridges);
        for (size_t i = 0; i < NET_BRIDGES; i++) {
                _cleanup_free_ char *text = NULL;

                if (!bridges[i].managed)
                        continue;
                assert(dnsmasq_config_build(n, &bridges[i], "/var/lib/x/leases", &text) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(strv_freep) char **warnings = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        Config c;
        int r;

        if (size > 64 * 1024)
                return 0;

        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        r = config_parse("fuzz", text, &c, &error, &warnings);
        /* Every message names the source and a real line (lines count from 1). */
        STRV_FOREACH (w, warnings)
                assert(startswith(*w, "fuzz:") && !startswith(*w, "fuzz:0:"));
        if (r < 0) {
                assert(r == -EINVAL || r == -ENOMEM);
                assert(error);
                assert(r == -ENOMEM || (startswith(error, "fuzz:") && !startswith(error, "fuzz:0:")));
                assert(!warnings);
                return 0;
        }

        assert(r == 0);
        assert(!error);
        check_accepted(&c);
        config_done(&c);
        return 0;
}
