/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsetup/sysctl.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strv.h"

static char *sysctl_path(const char *name) {
        char *p;

        if (asprintf(&p, "/proc/sys/%s", name) < 0)
                return NULL;
        return p;
}

int sysctl_write(const char *name, const char *value) {
        _cleanup_free_ char *p = sysctl_path(name);

        if (!p)
                return -ENOMEM;
        return write_string_file(p, value);
}

int sysctl_read(const char *name, char **ret) {
        _cleanup_free_ char *p = sysctl_path(name);

        if (!p)
                return -ENOMEM;
        return read_one_line_file(p, ret);
}

static bool wants_ipv6_forwarding(const NetConfig *c) {
        /* Prefixes are routed on the managed bridges; with bridge_interface they are ignored, and
         * only ipv6_bridge=0 (IPv6 of the taps routed, not bridged) needs forwarding. */
        if (c->bridge_interface)
                return !c->ipv6_bridge;
        return c->ethernet_ipv6_prefix || c->wifi_ipv6_prefix;
}

/* Forwarding on, remembering the old values (once, in saved_path) for sysctl_restore(). */
static int sysctl_apply_forwarding(const NetConfig *c, const char *saved_path, char **ret_error) {
        const char *names[] = { "net/ipv4/ip_forward", NULL, NULL };
        _cleanup_free_ char *saved = NULL;
        size_t saved_len = 0;
        FILE *f = NULL;
        int r;

        /* The reference sets all.forwarding=1 unconditionally, which makes every accept_ra=1
         * interface of the host ignore router advertisements. Only do it when IPv6 is routed. */
        if (wants_ipv6_forwarding(c))
                names[1] = "net/ipv6/conf/all/forwarding";
        if (saved_path && access(saved_path, F_OK) < 0) {
                f = open_memstream(&saved, &saved_len);
                if (!f)
                        return -ENOMEM;
        }
        for (size_t k = 0; names[k]; k++) {
                _cleanup_free_ char *old = NULL;

                r = sysctl_read(names[k], &old);
                if (r >= 0 && streq(old, "1"))
                        continue;
                if (f && r >= 0)
                        fprintf(f, "%s=%s\n", names[k], old);
                r = sysctl_write(names[k], "1");
                if (r < 0) {
                        if (f)
                                fclose(f);
                        if (ret_error)
                                (void) asprintf(ret_error, "set /proc/sys/%s=1: %s", names[k], strerror(-r));
                        return r;
                }
        }
        if (!f)
                return 0;
        if (fclose(f) != 0)
                return -ENOMEM;
        return saved_len > 0 ? write_file_atomic(saved_path, saved, 0600) : 0;
}

/* Guests must not configure the host: no router advertisements are accepted on the links guests
 * reach directly (the reference got this from all.forwarding=1). */
static int sysctl_apply_taps(const NetConfig *c) {
        int r;

        for (unsigned slot = 1; slot <= c->n_slots; slot++)
                for (TapKind k = TAP_MOBILE; k <= TAP_WIFIAP; k++) {
                        _cleanup_free_ char *name = NULL, *old = NULL;
                        char tap[IFNAMSIZ];

                        if (!slot_has_tap(c, slot, k) || slot_tap_name(slot, k, tap) < 0)
                                continue;
                        if (asprintf(&name, "net/ipv6/conf/%s/accept_ra", tap) < 0)
                                return -ENOMEM;
                        if (sysctl_read(name, &old) >= 0 && streq(old, "0"))
                                continue;
                        r = sysctl_write(name, "0");
                        if (r < 0 && r != -ENOENT)
                                return r;
                }
        return 0;
}

/* Managed bridges get IPv6 link-local and SLAAC as in the reference. */
static int sysctl_apply_bridges(const NetConfig *c, char **ret_error) {
        static const char *const keys[][2] = {
                { "disable_ipv6", "0" },
                { "addr_gen_mode", "0" },
                { "autoconf", "1" },
                { "accept_ra", "0" },
        };
        BridgePlan bridges[NET_BRIDGES];
        int r;

        net_config_bridges(c, bridges);
        for (size_t b = 0; b < NET_BRIDGES; b++) {
                if (!bridges[b].managed)
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        _cleanup_free_ char *name = NULL, *old = NULL;

                        if (asprintf(&name, "net/ipv6/conf/%s/%s", bridges[b].name, keys[k][0]) < 0)
                                return -ENOMEM;
                        if (sysctl_read(name, &old) >= 0 && streq(old, keys[k][1]))
                                continue;
                        /* Hosts booted with ipv6.disable=1 have no such files: not an error. */
                        r = sysctl_write(name, keys[k][1]);
                        if (r < 0 && r != -ENOENT) {
                                if (ret_error)
                                        (void) asprintf(ret_error,
                                                        "set /proc/sys/%s: %s",
                                                        name,
                                                        strerror(-r));
                                return r;
                        }
                }
        }
        return 0;
}

int sysctl_apply(const NetConfig *c, const char *saved_path, char **ret_error) {
        int r;

        r = sysctl_apply_forwarding(c, saved_path, ret_error);
        if (r < 0)
                return r;
        r = sysctl_apply_taps(c);
        if (r < 0)
                return r;
        return sysctl_apply_bridges(c, ret_error);
}

int sysctl_restore(const char *saved_path) {
        _cleanup_free_ char *contents = NULL;
        _cleanup_(strv_freep) char **lines = NULL;
        int r, ret = 0;

        if (!saved_path)
                return 0;
        r = read_full_file(saved_path, &contents, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = strv_split(contents, "\n", &lines);
        if (r < 0)
                return r;

        STRV_FOREACH (l, lines) {
                char *eq = strchr(*l, '=');

                if (!eq)
                        continue;
                *eq = 0;
                /* Only our own keys: the file is ours, but stay strict about what we write. */
                if (strncmp(*l, "net/", 4) != 0 || strstr(*l, ".."))
                        continue;
                r = sysctl_write(*l, eq + 1);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        (void) unlink(saved_path);
        return ret;
}
