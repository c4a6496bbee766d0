/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "common/escape.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/string-table.h"
#include "common/strv.h"

int config_init_defaults(Config *c) {
        *c = (Config){
                .max_instances_per_user = CONFIG_MAX_INSTANCES_PER_USER_DEFAULT,
                .default_backend = BACKEND_QEMU,
                .vmm_seccomp = true,
                .autostart_parallel = CONFIG_AUTOSTART_PARALLEL_DEFAULT,
        };
        return net_config_init_defaults(&c->net);
}

void config_done(Config *c) {
        net_config_done(&c->net);
}

typedef enum ConfigKey {
        K_NUM_CVD_ACCOUNTS,
        K_BRIDGE_INTERFACE,
        K_IPV4_BRIDGE,
        K_IPV6_BRIDGE,
        K_DNS_SERVERS,
        K_DNS6_SERVERS,
        K_WIFI_IPV6_PREFIX,
        K_WIFI_IPV6_PREFIX_LENGTH,
        K_ETHERNET_IPV6_PREFIX,
        K_ETHERNET_IPV6_PREFIX_LENGTH,
        K_MAX_INSTANCES_PER_USER,
        K_DEFAULT_BACKEND,
        K_MOBILE_IPV4_POOLS,
        K_WIFIAP_IPV4_POOLS,
        K_FIREWALL,
        K_RESTORE_SYSCTLS,
        K_DNSMASQ_USER,
        K_VMM_SECCOMP,
        K_DHCP_PING,
        K_AUTOSTART_PARALLEL,
        K_MAX_DISK_MB_PER_USER,
        _K_MAX,
        _K_INVALID = -EINVAL,
} ConfigKey;

static const char *const config_key_table[_K_MAX] = {
        [K_NUM_CVD_ACCOUNTS] = "num_cvd_accounts",
        [K_BRIDGE_INTERFACE] = "bridge_interface",
        [K_IPV4_BRIDGE] = "ipv4_bridge",
        [K_IPV6_BRIDGE] = "ipv6_bridge",
        [K_DNS_SERVERS] = "dns_servers",
        [K_DNS6_SERVERS] = "dns6_servers",
        [K_WIFI_IPV6_PREFIX] = "wifi_ipv6_prefix",
        [K_WIFI_IPV6_PREFIX_LENGTH] = "wifi_ipv6_prefix_length",
        [K_ETHERNET_IPV6_PREFIX] = "ethernet_ipv6_prefix",
        [K_ETHERNET_IPV6_PREFIX_LENGTH] = "ethernet_ipv6_prefix_length",
        [K_MAX_INSTANCES_PER_USER] = "max_instances_per_user",
        [K_DEFAULT_BACKEND] = "default_backend",
        [K_MOBILE_IPV4_POOLS] = "mobile_ipv4_pools",
        [K_WIFIAP_IPV4_POOLS] = "wifiap_ipv4_pools",
        [K_FIREWALL] = "firewall",
        [K_RESTORE_SYSCTLS] = "restore_sysctls",
        [K_DNSMASQ_USER] = "dnsmasq_user",
        [K_VMM_SECCOMP] = "vmm_seccomp",
        [K_DHCP_PING] = "dhcp_ping",
        [K_AUTOSTART_PARALLEL] = "autostart_parallel",
        [K_MAX_DISK_MB_PER_USER] = "max_disk_mb_per_user",
};

DEFINE_PRIVATE_STRING_TABLE_LOOKUP(config_key, ConfigKey);

typedef struct Parser {
        const char *source;
        unsigned line;
        const char *key;
        const char *value;
        char *error;
        char **warnings;
        Config *config;
        unsigned key_lines[_K_MAX]; /* line of each key, for cross-key errors */
} Parser;

static int fail(Parser *p, const char *fmt, ...) _printf_(2, 3);
static int fail(Parser *p, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        free(p->error);
        if (asprintf(&p->error, "%s:%u: %s=%s: %s", p->source, p->line, p->key, p->value, strempty(msg)) < 0)
                p->error = NULL;
        return -EINVAL;
}

static void warn(Parser *p, const char *fmt, ...) _printf_(2, 3);
static void warn(Parser *p, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char *s;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (asprintf(&s, "%s:%u: %s", p->source, p->line, strempty(msg)) >= 0)
                (void) strv_push(&p->warnings, s);
}

static int parse_num_slots(Parser *p, const char *v) {
        uint32_t n;
        int r = parse_uint32(v, &n);

        if (r < 0)
                return fail(p,
                            "not a number. Use a whole number of instance slots between 1 and %u.",
                            NET_SLOTS_MAX);
        if (n < 1 || n > NET_SLOTS_MAX)
                return fail(p,
                            "out of range. Use between 1 and %u slots (%u is the number of guests a /24 bridge can serve).",
                            NET_SLOTS_MAX,
                            NET_SLOTS_MAX);
        p->config->net.n_slots = n;
        return 0;
}

static int parse_bool_key(Parser *p, const char *v, bool *ret) {
        int b = parse_boolean(v);

        if (b < 0)
                return fail(p, "not a boolean. Use 1 or 0 (yes/no, true/false also work).");
        *ret = b;
        return 0;
}

static int parse_string_key(Parser *p, const char *v, char **ret) {
        char *s = NULL;

        if (*v) {
                s = strdup(v);
                if (!s)
                        return -ENOMEM;
        }
        free(*ret);
        *ret = s;
        return 0;
}

static int parse_bridge_interface(Parser *p, const char *v) {
        if (*v && !ifname_valid(v))
                return fail(p, "not a valid interface name (1-15 characters, no spaces, '/' or ':').");
        return parse_string_key(p, v, &p->config->net.bridge_interface);
}

static int parse_dns(Parser *p, const char *v, int family) {
        _cleanup_(strv_freep) char **l = NULL;
        size_t *n = family == AF_INET ? &p->config->net.n_dns_servers : &p->config->net.n_dns6_servers;
        int r;

        r = strv_split(v, ",", &l);
        if (r < 0)
                return r;
        if (strv_length(l) > NET_DNS_MAX)
                return fail(p, "too many servers. Give at most %u, separated by commas.", NET_DNS_MAX);

        *n = 0;
        STRV_FOREACH (s, l) {
                void *dst = family == AF_INET ? (void *) &p->config->net.dns_servers[*n]
                                              : (void *) &p->config->net.dns6_servers[*n];
                if (inet_pton(family, *s, dst) != 1)
                        return fail(p,
                                    "'%s' is not an %s address. Give addresses separated by commas, no spaces.",
                                    *s,
                                    family == AF_INET ? "IPv4" : "IPv6");
                (*n)++;
        }
        return 0;
}

static int parse_ipv6_prefix(Parser *p, const char *v, char **ret) {
        _cleanup_free_ char *probe = NULL;
        struct in6_addr a;

        if (*v) {
                /* The bridge gets "${prefix}1", so the prefix must end in ':' ("2001:db8:1::"). */
                if (asprintf(&probe, "%s1", v) < 0)
                        return -ENOMEM;
                if (inet_pton(AF_INET6, probe, &a) != 1 || IN6_IS_ADDR_LOOPBACK(&a) ||
                    IN6_IS_ADDR_MULTICAST(&a) || IN6_IS_ADDR_LINKLOCAL(&a))
                        return fail(p,
                                    "not an IPv6 prefix the bridge address '%s' can be made from. "
                                    "Write it ending in '::', e.g. 2001:db8:1::",
                                    probe);
        }
        return parse_string_key(p, v, ret);
}

static int parse_prefix_length(Parser *p, const char *v, unsigned *ret) {
        uint32_t n;

        if (parse_uint32(v, &n) < 0 || n < 1 || n > 128)
                return fail(p, "not a prefix length. Use a number from 1 to 128 (64 is usual).");
        *ret = n;
        return 0;
}

static int parse_pools(Parser *p, const char *v, struct in_addr *pools, size_t *n_pools) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = strv_split(v, ", ", &l);
        if (r < 0)
                return r;
        if (strv_length(l) == 0)
                return fail(p, "empty. Give at least one /24, e.g. 192.168.97.0/24.");
        if (strv_length(l) > NET_POOLS_MAX)
                return fail(p, "too many pools. Give at most %u /24 networks.", NET_POOLS_MAX);

        *n_pools = 0;
        STRV_FOREACH (s, l) {
                char *slash = strchr(*s, '/');
                struct in_addr a;

                if (!slash || !streq(slash, "/24"))
                        return fail(p, "'%s' is not a /24. Write each pool as a.b.c.0/24.", *s);
                *slash = 0;
                if (inet_pton(AF_INET, *s, &a) != 1 || (ntohl(a.s_addr) & 0xff) != 0)
                        return fail(p, "'%s/24' is not a /24 network address. Write it as a.b.c.0/24.", *s);
                for (size_t i = 0; i < *n_pools; i++)
                        if (pools[i].s_addr == a.s_addr)
                                return fail(p, "'%s/24' is listed twice.", *s);
                pools[(*n_pools)++] = a;
        }
        return 0;
}

static int parse_firewall(Parser *p, const char *v) {
        FirewallMode m = firewall_mode_from_string(v);

        if (m < 0)
                return fail(p, "unknown firewall backend. Use 'nftables' or 'none'.");
        p->config->net.firewall = m;
        return 0;
}

static int parse_backend(Parser *p, const char *v) {
        Backend b = backend_from_string(v);

        if (b < 0)
                return fail(p, "unknown backend. Use 'qemu', 'crosvm' or 'cvd'.");
        p->config->default_backend = b;
        return 0;
}

static int parse_max_per_user(Parser *p, const char *v) {
        uint32_t n;

        if (parse_uint32(v, &n) < 0 || n < 1 || n > NET_SLOTS_MAX)
                return fail(p, "out of range. Use a number from 1 to %u.", NET_SLOTS_MAX);
        p->config->max_instances_per_user = n;
        return 0;
}

static int parse_autostart_parallel(Parser *p, const char *v) {
        uint32_t n;

        if (parse_uint32(v, &n) < 0 || n < 1 || n > CONFIG_AUTOSTART_PARALLEL_MAX)
                return fail(p, "out of range. Use a number from 1 to %u.", CONFIG_AUTOSTART_PARALLEL_MAX);
        p->config->autostart_parallel = n;
        return 0;
}

static int parse_max_disk(Parser *p, const char *v) {
        uint32_t n;

        if (parse_uint32(v, &n) < 0)
                return fail(p, "not a number. Give MiB (0: no limit).");
        p->config->max_disk_mb_per_user = n;
        return 0;
}

static int parse_dnsmasq_user(Parser *p, const char *v) {
        if (!*v)
                return fail(p, "empty. Name an unprivileged user for dnsmasq, e.g. nobody.");
        for (const char *s = v; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("_-.", *s))
                        return fail(p, "not a user name.");
        return parse_string_key(p, v, &p->config->net.dnsmasq_user);
}

static int parse_key(Parser *p, ConfigKey k, const char *v) {
        NetConfig *n = &p->config->net;

        switch (k) {
        case K_NUM_CVD_ACCOUNTS:
                return parse_num_slots(p, v);
        case K_BRIDGE_INTERFACE:
                return parse_bridge_interface(p, v);
        case K_IPV4_BRIDGE:
                return parse_bool_key(p, v, &n->ipv4_bridge);
        case K_IPV6_BRIDGE:
                return parse_bool_key(p, v, &n->ipv6_bridge);
        case K_DNS_SERVERS:
                return parse_dns(p, v, AF_INET);
        case K_DNS6_SERVERS:
                return parse_dns(p, v, AF_INET6);
        case K_WIFI_IPV6_PREFIX:
                return parse_ipv6_prefix(p, v, &n->wifi_ipv6_prefix);
        case K_WIFI_IPV6_PREFIX_LENGTH:
                return parse_prefix_length(p, v, &n->wifi_ipv6_prefix_length);
        case K_ETHERNET_IPV6_PREFIX:
                return parse_ipv6_prefix(p, v, &n->ethernet_ipv6_prefix);
        case K_ETHERNET_IPV6_PREFIX_LENGTH:
                return parse_prefix_length(p, v, &n->ethernet_ipv6_prefix_length);
        case K_MAX_INSTANCES_PER_USER:
                return parse_max_per_user(p, v);
        case K_DEFAULT_BACKEND:
                return parse_backend(p, v);
        case K_MOBILE_IPV4_POOLS:
                return parse_pools(p, v, n->mobile_pools, &n->n_mobile_pools);
        case K_WIFIAP_IPV4_POOLS:
                return parse_pools(p, v, n->wifiap_pools, &n->n_wifiap_pools);
        case K_FIREWALL:
                return parse_firewall(p, v);
        case K_RESTORE_SYSCTLS:
                return parse_bool_key(p, v, &n->restore_sysctls);
        case K_DNSMASQ_USER:
                return parse_dnsmasq_user(p, v);
        case K_VMM_SECCOMP:
                return parse_bool_key(p, v, &p->config->vmm_seccomp);
        case K_DHCP_PING:
                return parse_bool_key(p, v, &n->dhcp_ping);
        case K_AUTOSTART_PARALLEL:
                return parse_autostart_parallel(p, v);
        case K_MAX_DISK_MB_PER_USER:
                return parse_max_disk(p, v);
        case _K_MAX:
        case _K_INVALID:
                break;
        }
        return -EINVAL;
}

/* Splits one line into key and value in place. Returns 0 for a blank/comment line, 1 for an
 * assignment, or -EINVAL with a reason in *ret_reason. */
static int split_line(char *line, char **ret_key, char **ret_value, const char **ret_reason) {
        char *s = strstrip(line), *eq, *v, *end, quote;

        if (*s == 0 || *s == '#')
                return 0;
        if (strncmp(s, "export", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
                s = strstrip(s + 6);

        eq = strchr(s, '=');
        if (!eq) {
                *ret_reason = "not a KEY=value assignment. Write settings as key=value, comments start with '#'.";
                return -EINVAL;
        }
        *eq = 0;
        for (char *k = s; *k; k++)
                if (!(isalnum((unsigned char) *k) || *k == '_') || (k == s && isdigit((unsigned char) *k))) {
                        *ret_reason = "not a valid key name (letters, digits and '_'; no spaces around '=').";
                        return -EINVAL;
                }
        if (*s == 0) {
                *ret_reason = "empty key before '='.";
                return -EINVAL;
        }

        v = eq + 1;
        quote = *v;
        if (*v == '"' || *v == '\'') {
                char q = *v++;

                end = strchr(v, q);
                if (!end) {
                        *ret_reason = "unterminated quote. Close the value with the quote it opened with.";
                        return -EINVAL;
                }
                *end++ = 0;
        } else {
                end = v + strcspn(v, " \t");
                if (*end)
                        *end++ = 0;
        }
        end += strspn(end, " \t");
        if (*end && *end != '#') {
                *ret_reason = "unexpected text after the value. Quote values that contain spaces.";
                return -EINVAL;
        }
        if (quote != '\'' && strpbrk(v, "$`")) {
                *ret_reason = "shell expansion is not supported: this file is parsed, not sourced. Write the value "
                              "literally (in single quotes '$' is literal).";
                return -EINVAL;
        }

        *ret_key = s;
        *ret_value = v;
        return 1;
}

/* Like fail(), but p->error is the formatted text as it is: for errors not about one KEY=value. */
static int fail_plain(Parser *p, const char *fmt, ...) _printf_(2, 3);
static int fail_plain(Parser *p, const char *fmt, ...) {
        va_list ap;

        free(p->error);
        va_start(ap, fmt);
        if (vasprintf(&p->error, fmt, ap) < 0)
                p->error = NULL;
        va_end(ap);
        return -EINVAL;
}

static int validate_slots(Parser *p) {
        NetConfig *n = &p->config->net;
        unsigned cap = net_config_slot_capacity(n);

        if (n->n_slots > cap)
                return fail_plain(
                                p,
                                "%s:%u: num_cvd_accounts=%u: past the address pools, which hold %u slots "
                                "(%zu mobile and %zu wifiap /24s, 64 slots each). Add /24s to mobile_ipv4_pools "
                                "and wifiap_ipv4_pools, or lower num_cvd_accounts to %u.",
                                p->source,
                                p->key_lines[K_NUM_CVD_ACCOUNTS],
                                n->n_slots,
                                cap,
                                n->n_mobile_pools,
                                n->n_wifiap_pools,
                                cap);
        return 0;
}

/* Pools must not overlap each other or the bridges' /24s. */
static int validate_pools(Parser *p) {
        NetConfig *n = &p->config->net;
        struct in_addr all[2 * NET_POOLS_MAX + 2];
        int owner[2 * NET_POOLS_MAX + 2] = {}; /* key that put all[i] there; -1 for the bridges */
        size_t n_all = 0;

        if (inet_pton(AF_INET, "192.168.98.0", &all[n_all]) == 1)
                owner[n_all++] = -1;
        if (inet_pton(AF_INET, "192.168.96.0", &all[n_all]) == 1)
                owner[n_all++] = -1;
        for (int pass = 0; pass < 2; pass++) {
                const struct in_addr *pools = pass == 0 ? n->mobile_pools : n->wifiap_pools;
                size_t np = pass == 0 ? n->n_mobile_pools : n->n_wifiap_pools;
                ConfigKey k = pass == 0 ? K_MOBILE_IPV4_POOLS : K_WIFIAP_IPV4_POOLS;

                for (size_t i = 0; i < np; i++) {
                        for (size_t j = 0; j < n_all; j++)
                                if (all[j].s_addr == pools[i].s_addr) {
                                        char s[INET_ADDRSTRLEN];

                                        /* Blame the line that was written: a list left at
                                         * its default has no line. */
                                        if (p->key_lines[k] == 0 && owner[j] >= 0)
                                                k = owner[j];
                                        ipv4_to_string(pools[i], s);
                                        return fail_plain(
                                                        p,
                                                        "%s:%u: %s: %s/24 is already used by a bridge or "
                                                        "another pool. Every /24 may appear once.",
                                                        p->source,
                                                        p->key_lines[k],
                                                        config_key_to_string(k),
                                                        s);
                                }
                        owner[n_all] = k;
                        all[n_all++] = pools[i];
                }
        }
        return 0;
}

static int validate_ipv6_prefixes(Parser *p) {
        NetConfig *n = &p->config->net;

        if ((n->ethernet_ipv6_prefix && n->ethernet_ipv6_prefix_length == 0) ||
            (n->wifi_ipv6_prefix && n->wifi_ipv6_prefix_length == 0)) {
                ConfigKey k = n->ethernet_ipv6_prefix && n->ethernet_ipv6_prefix_length == 0
                                ? K_ETHERNET_IPV6_PREFIX
                                : K_WIFI_IPV6_PREFIX;
                return fail_plain(
                                p,
                                "%s:%u: %s is set without %s_length. Set the prefix length too (e.g. 64).",
                                p->source,
                                p->key_lines[k],
                                config_key_to_string(k),
                                config_key_to_string(k));
        }
        return 0;
}

/* Keys that are valid but have no effect with the others as they are. */
static void warn_ignored(Parser *p) {
        NetConfig *n = &p->config->net;

        if (n->bridge_interface && (n->ethernet_ipv6_prefix || n->wifi_ipv6_prefix)) {
                p->line =
                                p->key_lines[n->ethernet_ipv6_prefix ? K_ETHERNET_IPV6_PREFIX
                                                                     : K_WIFI_IPV6_PREFIX];
                warn(p,
                     "IPv6 prefixes apply to the managed bridges only; with bridge_interface they are ignored.");
        }
        if (!n->bridge_interface && (!n->ipv4_bridge || !n->ipv6_bridge)) {
                p->line = p->key_lines[!n->ipv4_bridge ? K_IPV4_BRIDGE : K_IPV6_BRIDGE];
                warn(p, "ipv4_bridge/ipv6_bridge apply only with bridge_interface; ignored.");
        }
}

/* The checks across keys, once every line is read. */
static int config_validate(Parser *p) {
        int r;

        r = validate_slots(p);
        if (r < 0)
                return r;
        r = validate_pools(p);
        if (r < 0)
                return r;
        r = validate_ipv6_prefixes(p);
        if (r < 0)
                return r;
        warn_ignored(p);
        return 0;
}

/* Split by hand so line numbers count blank lines too; one allocation, linear time. */
static int split_lines(const char *text, char ***ret) {
        _cleanup_(strv_freep) char **lines = NULL;
        size_t n_lines = 1;

        for (const char *ch = text; *ch; ch++)
                n_lines += *ch == '\n';
        lines = calloc(n_lines + 1, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        for (size_t i = 0; *text; i++) {
                size_t n = strcspn(text, "\n");

                lines[i] = strndup(text, n);
                if (!lines[i])
                        return -ENOMEM;
                text += n;
                if (*text == '\n')
                        text++;
        }
        *ret = TAKE_PTR(lines);
        return 0;
}

/* One line, number p->line: a comment, a blank, or KEY=value applied to p->config. */
static int parse_line(Parser *p, char *line) {
        const char *reason = NULL;
        char *key, *value;
        ConfigKey k;
        int r;

        if (strlen(line) > 4096)
                return fail_plain(p, "%s:%u: line too long (over 4096 characters).", p->source, p->line);
        r = split_line(line, &key, &value, &reason);
        if (r == 0)
                return 0;
        if (r < 0)
                return fail_plain(p, "%s:%u: %s", p->source, p->line, reason);

        p->key = key;
        p->value = value;
        k = config_key_from_string(key);
        if (k < 0) {
                warn(p,
                     "unknown key '%s' ignored. Known keys are listed in cuttlefish-host-resourcesd(8).",
                     key);
                return 0;
        }
        if (p->key_lines[k] > 0)
                warn(p, "%s set again (first on line %u); the last value counts.", key, p->key_lines[k]);
        p->key_lines[k] = p->line;

        return parse_key(p, k, value);
}

int config_parse(const char *source, const char *text, Config *ret, char **ret_error, char ***ret_warnings) {
        _cleanup_(strv_freep) char **lines = NULL;
        Config c;
        Parser p = { .source = source, .config = &c };
        int r;

        r = config_init_defaults(&c);
        if (r < 0) {
                config_done(&c);
                return r;
        }

        r = split_lines(text, &lines);
        if (r < 0)
                goto fail;

        for (size_t i = 0; lines[i]; i++) {
                p.line = (unsigned) i + 1;
                r = parse_line(&p, lines[i]);
                if (r < 0)
                        goto fail;
        }

        r = config_validate(&p);
        if (r < 0)
                goto fail;

        *ret = c;
        STRV_FOREACH (w, p.warnings)
                *w = escape_nonprintable(*w) ?: strdup("(warning lost: out of memory)");
        if (ret_warnings)
                *ret_warnings = TAKE_PTR(p.warnings);
        strv_free(p.warnings);
        if (ret_error)
                *ret_error = NULL;
        return 0;

fail:
        config_done(&c);
        if (ret_error)
                *ret_error = p.error ? escape_nonprintable(TAKE_PTR(p.error)) : strdup("out of memory");
        free(p.error);
        strv_free(p.warnings);
        return r == -ENOMEM ? -ENOMEM : -EINVAL;
}

int config_load(const char *path, bool must_exist, Config *ret, char **ret_error, char ***ret_warnings) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, &text, &size);
        if (r == -ENOENT && !must_exist)
                return config_parse(path, "", ret, ret_error, ret_warnings);
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "%s: cannot read: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (strlen(text) != size) {
                if (ret_error &&
                    asprintf(ret_error, "%s: contains NUL bytes; this is not a text file.", path) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        return config_parse(path, text, ret, ret_error, ret_warnings);
}
