/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "netsetup/nft.h"
#include "common/macro.h"
#include "common/strv.h"

static struct nft_ctx *nft_ctx_freep_helper(struct nft_ctx *c) {
        nft_ctx_free(c);
        return NULL;
}
DEFINE_CLEANUP(struct nft_ctx *, nft_ctx_freep_helper);

static int nft_run_full(const char *script, bool dry_run, char **ret_output, char **ret_error) {
        _cleanup_(nft_ctx_freep_helperp) struct nft_ctx *ctx = NULL;
        int r;

        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
                return -ENOMEM;
        if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
                return -ENOMEM;
        nft_ctx_set_dry_run(ctx, dry_run);

        r = nft_run_cmd_from_buffer(ctx, script);
        if (r != 0) {
                if (ret_error) {
                        const char *e = nft_ctx_get_error_buffer(ctx);
                        *ret_error = strdup(e && *e ? e : "nftables transaction failed");
                        if (*ret_error)
                                (*ret_error)[strcspn(*ret_error, "\n")] = 0;
                }
                return -EIO;
        }
        if (ret_output) {
                *ret_output = strdup(strempty(nft_ctx_get_output_buffer(ctx)));
                if (!*ret_output)
                        return -ENOMEM;
        }
        return 0;
}

static int nft_run(const char *script, char **ret_output, char **ret_error) {
        return nft_run_full(script, false, ret_output, ret_error);
}

static void tap_set(FILE *f, const NetConfig *c, TapKind kind) {
        bool first = true;

        fputs("{ ", f);
        for (unsigned slot = 1; slot <= c->n_slots; slot++) {
                char name[IFNAMSIZ];

                if (!slot_has_tap(c, slot, kind))
                        continue;
                (void) slot_tap_name(slot, kind, name);
                fprintf(f, "%s\"%s\"", first ? "" : ", ", name);
                first = false;
        }
        fputs(" }", f);
}

/* NAT for the guests' own subnets, and a forward chain that states intent and counts. */
static void nft_table_inet(FILE *f, char **sources) {
        fputs("table inet " NET_TABLE_NAME " {\n", f);
        if (sources[0]) {
                fputs("\tset nat_sources {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { ", f);
                STRV_FOREACH (s, sources)
                        fprintf(f, "%s%s", s == sources ? "" : ", ", *s);
                fputs(" }\n\t}\n", f);
                fputs("\tchain postrouting {\n"
                      "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
                      "\t\tip saddr @nat_sources counter masquerade\n"
                      "\t}\n",
                      f);
        }
        /* Our own forward chain states intent and counts; it cannot lift another table's drop. */
        fputs("\tchain forward {\n"
              "\t\ttype filter hook forward priority filter; policy accept;\n"
              "\t\tct state established,related counter accept\n",
              f);
        if (sources[0])
                fputs("\t\tip saddr @nat_sources counter accept\n", f);
        fputs("\t}\n}\n", f);
}

/* Keep IP off the shared bridge for these taps: route it instead (broute). */
static void nft_table_bridge(FILE *f, const NetConfig *c, bool broute) {
        fputs("table bridge " NET_TABLE_NAME " {\n"
              "\tchain prerouting {\n\t\ttype filter hook prerouting priority -250; policy accept;\n",
              f);
        for (int v = 0; v < 2; v++) {
                if (v == 0 ? c->ipv4_bridge : c->ipv6_bridge)
                        continue;
                for (TapKind k = TAP_ETHERNET; k <= TAP_WIFI; k++) {
                        fputs("\t\tiifname ", f);
                        tap_set(f, c, k);
                        /* Brouting hands the frame to the host's IP stack through the tap (which
                         * has no address of that family), so it is delivered only if the host
                         * routes for the tap. nftables before 1.0.8 cannot say "meta broute": then
                         * the frame is dropped, which keeps the same family off the shared bridge
                         * but loses that routed case. DescribeNetwork and the man page say which
                         * one is in force. */
                        fprintf(f,
                                " ether type %s %s\n",
                                v == 0 ? "ip" : "ip6",
                                broute ? "meta broute set 1 accept" : "drop");
                }
        }
        fputs("\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n", f);
        for (int v = 0; v < 2; v++) {
                if (v == 0 ? c->ipv4_bridge : c->ipv6_bridge)
                        continue;
                for (TapKind k = TAP_ETHERNET; k <= TAP_WIFI; k++) {
                        fputs("\t\toifname ", f);
                        tap_set(f, c, k);
                        fprintf(f, " ether type %s drop\n", v == 0 ? "ip" : "ip6");
                }
        }
        fputs("\t}\n}\n", f);
}

int nft_build_ruleset(const NetConfig *c, bool broute, char **ret) {
        _cleanup_(strv_freep) char **sources = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        r = net_config_nat_sources(c, &sources);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;

        /* "add" then "delete" then the full table: one transaction that creates or replaces. */
        fputs("add table inet " NET_TABLE_NAME "\n"
              "delete table inet " NET_TABLE_NAME "\n"
              "add table bridge " NET_TABLE_NAME "\n"
              "delete table bridge " NET_TABLE_NAME "\n",
              f);
        nft_table_inet(f, sources);
        if (c->bridge_interface && (!c->ipv4_bridge || !c->ipv6_bridge))
                nft_table_bridge(f, c, broute);

        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 || r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

int nft_apply(const NetConfig *c, char **ret_error) {
        /* Whether this libnftables knows "meta broute" (1.0.6 does not): asked once, by a dry run,
         * since the answer cannot change while we run (and its parser leaks a little on the
         * refusal). */
        static int broute_supported = -1;
        _cleanup_free_ char *script = NULL;
        bool fallback = false;
        int r;

        if (c->firewall == FIREWALL_NONE)
                return nft_remove(ret_error);

        r = nft_build_ruleset(c, true, &script);
        if (r < 0)
                return r;
        if (strstr(script, "broute") && broute_supported < 0)
                broute_supported = nft_run_full(script, true, NULL, NULL) >= 0;
        if (strstr(script, "broute") && broute_supported == 0) {
                script = mfree(script);
                r = nft_build_ruleset(c, false, &script);
                if (r < 0)
                        return r;
                fallback = true;
        }
        r = nft_run(script, NULL, ret_error);
        if (r < 0)
                return r;
        return fallback;
}

int nft_remove(char **ret_error) {
        return nft_run("add table inet " NET_TABLE_NAME "\n"
                       "delete table inet " NET_TABLE_NAME "\n"
                       "add table bridge " NET_TABLE_NAME "\n"
                       "delete table bridge " NET_TABLE_NAME "\n",
                       NULL,
                       ret_error);
}

int nft_table_present(void) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = nft_run("list tables inet", &out, NULL);
        if (r < 0)
                return r;
        return strstr(out, "table inet " NET_TABLE_NAME "\n") ? 1 : 0;
}

int nft_count_rules(void) {
        _cleanup_free_ char *out = NULL;
        int n = 0, r;

        r = nft_run("list table inet " NET_TABLE_NAME, &out, NULL);
        if (r < 0)
                return 0; /* absent */
        for (const char *p = out; (p = strstr(p, "counter")); p++)
                n++;
        return n;
}
