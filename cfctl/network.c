/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cfctl's Manager verbs: network status, network up, network down, reload. */
#include <inttypes.h>
#include <stdio.h>

#include "cfctl/bus-call.h"
#include "cfctl/cfctl.h"
#include "cfctl/json.h"
#include "cfctl/output.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"

static size_t json_length(struct json_object *array) {
        return array ? json_object_array_length(array) : 0;
}

/* The tap of kind ("ethernet", "wifi", ...) of a slot, or NULL. */
static struct json_object *slot_find_tap(struct json_object *slot, const char *kind) {
        struct json_object *taps = json_get(slot, "taps");

        for (size_t i = 0; i < json_length(taps); i++) {
                struct json_object *t = json_object_array_get_idx(taps, i);
                if (streq_ptr(json_get_string(t, "kind"), kind))
                        return t;
        }
        return NULL;
}

static void network_print_summary(struct json_object *o) {
        struct json_object *bridges = json_get(o, "bridges"), *conflicts = json_get(o, "conflicts");

        printf("Network: %s", strempty(json_get_string(o, "state")));
        if (json_get_string(o, "error"))
                printf(" (%s)", json_get_string(o, "error"));
        printf("\n  Slots: %" PRIi64 "   Links: %" PRIi64 "   Firewall: %s%s   Repairs: %" PRIi64 "\n",
               json_get_int64(o, "slot_count"),
               json_get_int64(o, "links"),
               strempty(json_get_string(o, "firewall")),
               json_get_bool(o, "nft_table_present") ? "" : " (table absent)",
               json_get_int64(o, "repairs"));

        for (size_t i = 0; i < json_length(bridges); i++) {
                struct json_object *b = json_object_array_get_idx(bridges, i), *d = json_get(b, "dnsmasq");

                printf("  Bridge %s: %s%s%s",
                       strempty(json_get_string(b, "name")),
                       json_get_bool(b, "present") ? "present" : "MISSING",
                       json_get_bool(b, "managed") ? ", " : " (not managed by this service)",
                       strempty(json_get_string(b, "address")));
                if (d)
                        printf(", dnsmasq %s (restarts %" PRIi64 ", leases %" PRIi64 ")",
                               json_get_bool(d, "running") ? "running" : "NOT RUNNING",
                               json_get_int64(d, "restarts"),
                               json_get_int64(d, "leases"));
                putchar('\n');
        }
        for (size_t i = 0; i < json_length(conflicts); i++)
                printf("  Conflict: %s\n", json_object_get_string(json_object_array_get_idx(conflicts, i)));
}

static void network_add_tap_cell(Table *t, struct json_object *tap) {
        if (tap)
                table_add_cellf(t,
                                "%s%s",
                                strempty(json_get_string(tap, "name")),
                                json_get_bool(tap, "present") ? "" : "(missing)");
        else
                table_add_cell(t, "-");
}

/* One slot's row; returns whether a guest has a lease on it. */
static bool network_add_slot_row(Table *t, struct json_object *s) {
        struct json_object *e = slot_find_tap(s, "ethernet"), *w = slot_find_tap(s, "wifi");
        struct json_object *mo = slot_find_tap(s, "mobile"), *ap = slot_find_tap(s, "wifiap");
        struct json_object *le = json_get(e, "lease"), *lw = json_get(w, "lease");
        const char *ip_e = strempty(json_get_string(le, "ip")), *ip_w = strempty(json_get_string(lw, "ip"));

        table_add_cellf(t, "%" PRIi64, json_get_int64(s, "number"));
        table_add_cellf(t, "%" PRIi64, json_get_int64(s, "vsock_cid"));
        network_add_tap_cell(t, e);
        network_add_tap_cell(t, w);
        table_add_cell(t, mo ? strempty(json_get_string(mo, "address")) : "-");
        table_add_cell(t, ap ? strempty(json_get_string(ap, "address")) : "-");
        if ((le && lw) || *ip_e || *ip_w)
                table_add_cellf(t, "%s%s%s", ip_e, le && lw ? "," : "", ip_w);
        else
                table_add_cell(t, "-");
        return le || lw;
}

static int network_print_slots(struct json_object *slots) {
        static const TableColumn columns[] = {
                { "SLOT", 4 },    { "CID", 4 },     { "ETHERNET", 15 }, { "WIFI", 15 },
                { "MOBILE", 18 }, { "WIFIAP", 18 }, { "LEASES", 0 },
        };
        _cleanup_(table_freep) Table *t = NULL;
        size_t n_leases = 0;
        int r;

        r = table_new(columns, ELEMENTSOF(columns), &t);
        if (r < 0)
                return log_oom();
        for (size_t i = 0; i < json_length(slots); i++)
                n_leases += network_add_slot_row(t, json_object_array_get_idx(slots, i));

        if (arg_legend)
                putchar('\n');
        r = table_print(t, arg_legend);
        if (r < 0)
                return log_oom();
        if (arg_legend)
                printf("\n%zu slots listed, %zu with a guest lease.\n", json_length(slots), n_leases);
        return 0;
}

int verb_network_status(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        int r;

        r = bus_call_json(bus, "DescribeNetwork", "describe the network", &o);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                output_json(o);
                return 0;
        }
        network_print_summary(o);
        return network_print_slots(json_get(o, "slots"));
}

/* A method that takes and returns nothing and may need authorization; done is said on success. */
static int network_call(sd_bus *bus, const char *method, const char *what, const char *done) {
        int r;

        r = bus_call(bus,
                     &(const BusCall){ .method = method, .what = what, .flags = BUS_CALL_MAY_AUTHORIZE },
                     NULL,
                     NULL);
        if (r < 0)
                return r;
        if (!arg_quiet)
                fprintf(stderr, "%s\n", done);
        return 0;
}

int verb_network_up(sd_bus *bus, int argc, char *argv[]) {
        return network_call(bus, "SetupNetwork", "set up the network", "Network is up.");
}

int verb_network_down(sd_bus *bus, int argc, char *argv[]) {
        return network_call(
                        bus,
                        "TeardownNetwork",
                        "tear down the network",
                        "Network is down: links, firewall table and dnsmasq removed.");
}

int verb_reload(sd_bus *bus, int argc, char *argv[]) {
        return network_call(bus, "Reload", "reload the configuration", "Configuration reloaded.");
}
