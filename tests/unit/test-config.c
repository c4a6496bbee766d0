/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The KEY=value configuration file: defaults, every key, the syntax, and the messages. */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* By path: a stale "config.h" in a build directory must not shadow ours. */
#include "daemon/config.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"

#define SENTINEL 4242u

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void assert_ipv4(struct in_addr a, const char *expected) {
        char s[INET_ADDRSTRLEN];

        ipv4_to_string(a, s);
        if (!streq(s, expected)) {
                fprintf(stderr, "expected %s, got %s\n", expected, s);
                assert(streq(s, expected));
        }
}

static void assert_ipv6(const struct in6_addr *a, const char *expected) {
        char s[INET6_ADDRSTRLEN];

        assert(inet_ntop(AF_INET6, a, s, sizeof(s)));
        assert(streq(s, expected));
}

/* Parses text as "x.conf", which must succeed. */
static void parse_ok(const char *text, Config *ret, char ***ret_warnings) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = config_parse("x.conf", text, ret, &error, ret_warnings);
        if (r < 0) {
                fprintf(stderr, "unexpected error %d for:\n%s\n-> %s\n", r, text, strempty(error));
                assert(r >= 0);
        }
        assert(!error);
}

/* Parses text as "x.conf", which must fail with -EINVAL; returns the message. The output
 * Config and warnings must be left alone. */
static char *parse_fail(const char *text) {
        char *error = NULL, **warnings = NULL;
        Config c = { .max_instances_per_user = SENTINEL };
        int r;

        r = config_parse("x.conf", text, &c, &error, &warnings);
        if (r != -EINVAL) {
                fprintf(stderr, "expected -EINVAL, got %d for:\n%s\n", r, text);
                if (r >= 0)
                        config_done(&c);
                assert(r == -EINVAL);
        }
        assert(error);
        assert(!warnings);
        assert(c.max_instances_per_user == SENTINEL && !c.net.dnsmasq_user);
        return error;
}

/* The message starts with prefix and contains each of the NULL-terminated needles. */
static void assert_error(const char *text, const char *prefix, ...) {
        _cleanup_free_ char *error = parse_fail(text);
        va_list ap;

        if (!startswith(error, prefix)) {
                fprintf(stderr, "for:\n%s\nexpected prefix '%s', got '%s'\n", text, prefix, error);
                assert(startswith(error, prefix));
        }
        va_start(ap, prefix);
        for (const char *n; (n = va_arg(ap, const char *));)
                if (!strstr(error, n)) {
                        fprintf(stderr, "for:\n%s\nexpected '%s' in '%s'\n", text, n, error);
                        assert(strstr(error, n));
                }
        va_end(ap);
        /* One line: messages go to the journal and to D-Bus errors. */
        assert(!strchr(error, '\n'));
}

static void assert_defaults(const Config *c) {
        const NetConfig *n = &c->net;

        assert(n->n_slots == 10);
        assert(!n->bridge_interface);
        assert(n->ipv4_bridge && n->ipv6_bridge);
        assert(n->n_dns_servers == 2);
        assert_ipv4(n->dns_servers[0], "8.8.8.8");
        assert_ipv4(n->dns_servers[1], "8.8.4.4");
        assert(n->n_dns6_servers == 2);
        assert_ipv6(&n->dns6_servers[0], "2001:4860:4860::8888");
        assert_ipv6(&n->dns6_servers[1], "2001:4860:4860::8844");
        assert(!n->ethernet_ipv6_prefix && !n->wifi_ipv6_prefix);
        assert(n->n_mobile_pools == 2);
        assert_ipv4(n->mobile_pools[0], "192.168.97.0");
        assert_ipv4(n->mobile_pools[1], "192.168.93.0");
        assert(n->n_wifiap_pools == 2);
        assert_ipv4(n->wifiap_pools[0], "192.168.94.0");
        assert_ipv4(n->wifiap_pools[1], "192.168.95.0");
        assert(n->firewall == FIREWALL_NFTABLES);
        assert(!n->restore_sysctls);
        assert(streq_ptr(n->dnsmasq_user, "nobody"));
        assert(n->dhcp_ping);
        assert(c->max_instances_per_user == CONFIG_MAX_INSTANCES_PER_USER_DEFAULT);
        assert(c->default_backend == BACKEND_QEMU);
        assert(c->vmm_seccomp);
}

static void test_defaults(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        Config c;

        parse_ok("", &c, &warnings);
        assert(strv_length(warnings) == 0);
        assert_defaults(&c);
        config_done(&c);

        /* Only blank lines and comments. */
        parse_ok("\n\n# num_cvd_accounts=3\n   \n\t# indented comment\n\t \n#\n", &c, &warnings);
        assert(strv_length(warnings) == 0);
        assert_defaults(&c);
        config_done(&c);

        /* config_init_defaults agrees with parsing nothing. */
        assert(config_init_defaults(&c) == 0);
        assert_defaults(&c);
        config_done(&c);

        /* Warnings are optional. */
        assert(config_parse("x.conf", "foo=1\n", &c, NULL, NULL) == 0);
        config_done(&c);
}

static void test_every_key_managed(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        const NetConfig *n;
        Config c;

        parse_ok("num_cvd_accounts=20\n"
                 "dns_servers=1.1.1.1,9.9.9.9,8.8.8.8\n"
                 "dns6_servers=2606:4700:4700::1111\n"
                 "wifi_ipv6_prefix=2001:db8:f::\n"
                 "wifi_ipv6_prefix_length=64\n"
                 "ethernet_ipv6_prefix=2001:db8:e::\n"
                 "ethernet_ipv6_prefix_length=56\n"
                 "max_instances_per_user=3\n"
                 "default_backend=crosvm\n"
                 "mobile_ipv4_pools=10.1.0.0/24,10.1.1.0/24\n"
                 "wifiap_ipv4_pools=\"10.2.0.0/24 10.2.1.0/24, 10.2.2.0/24\"\n"
                 "firewall=none\n"
                 "restore_sysctls=yes\n"
                 "dnsmasq_user=dnsmasq\n"
                 "vmm_seccomp=false\n"
                 "dhcp_ping=off\n",
                 &c,
                 &warnings);
        assert(strv_length(warnings) == 0);

        n = &c.net;
        assert(n->n_slots == 20);
        assert(!n->bridge_interface);
        assert(n->n_dns_servers == 3);
        assert_ipv4(n->dns_servers[0], "1.1.1.1");
        assert_ipv4(n->dns_servers[1], "9.9.9.9");
        assert_ipv4(n->dns_servers[2], "8.8.8.8");
        assert(n->n_dns6_servers == 1);
        assert_ipv6(&n->dns6_servers[0], "2606:4700:4700::1111");
        assert(streq_ptr(n->wifi_ipv6_prefix, "2001:db8:f::"));
        assert(n->wifi_ipv6_prefix_length == 64);
        assert(streq_ptr(n->ethernet_ipv6_prefix, "2001:db8:e::"));
        assert(n->ethernet_ipv6_prefix_length == 56);
        assert(c.max_instances_per_user == 3);
        assert(c.default_backend == BACKEND_CROSVM);
        assert(n->n_mobile_pools == 2);
        assert_ipv4(n->mobile_pools[0], "10.1.0.0");
        assert_ipv4(n->mobile_pools[1], "10.1.1.0");
        assert(n->n_wifiap_pools == 3);
        assert_ipv4(n->wifiap_pools[0], "10.2.0.0");
        assert_ipv4(n->wifiap_pools[1], "10.2.1.0");
        assert_ipv4(n->wifiap_pools[2], "10.2.2.0");
        assert(n->firewall == FIREWALL_NONE);
        assert(n->restore_sysctls);
        assert(streq_ptr(n->dnsmasq_user, "dnsmasq"));
        assert(!c.vmm_seccomp);
        assert(!n->dhcp_ping);
        config_done(&c);

        /* The remaining enum values. */
        parse_ok("default_backend=cvd\nfirewall=nftables\n", &c, NULL);
        assert(c.default_backend == BACKEND_CVD && c.net.firewall == FIREWALL_NFTABLES);
        config_done(&c);
        parse_ok("default_backend=crosvm\ndefault_backend=qemu\n", &c, NULL);
        assert(c.default_backend == BACKEND_QEMU);
        config_done(&c);
}

static void test_every_key_bridge_interface(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        Config c;

        parse_ok("bridge_interface=br0\nipv4_bridge=0\nipv6_bridge=no\n", &c, &warnings);
        assert(strv_length(warnings) == 0);
        assert(streq_ptr(c.net.bridge_interface, "br0"));
        assert(!c.net.ipv4_bridge);
        assert(!c.net.ipv6_bridge);
        config_done(&c);

        /* ipv6_bridge is its own knob (the reference once copied ipv4_bridge into it). */
        parse_ok("bridge_interface=br0\nipv4_bridge=1\nipv6_bridge=0\n", &c, NULL);
        assert(c.net.ipv4_bridge && !c.net.ipv6_bridge);
        config_done(&c);
        parse_ok("bridge_interface=br0\nipv4_bridge=0\nipv6_bridge=1\n", &c, NULL);
        assert(!c.net.ipv4_bridge && c.net.ipv6_bridge);
        config_done(&c);

        /* An empty value means unset: back to managed bridges. */
        parse_ok("bridge_interface=\n", &c, NULL);
        assert(!c.net.bridge_interface);
        config_done(&c);

        /* Knobs that do nothing in the chosen mode are accepted with a warning. */
        parse_ok("# managed bridges\nipv4_bridge=0\n", &c, &warnings);
        assert(strv_length(warnings) == 1 && strstr(warnings[0], "ipv4_bridge"));
        assert(startswith(warnings[0], "x.conf:2: "));
        config_done(&c);
        warnings = strv_free(warnings);
        parse_ok("bridge_interface=br0\nwifi_ipv6_prefix=2001:db8::\nwifi_ipv6_prefix_length=64\n",
                 &c,
                 &warnings);
        assert(strv_length(warnings) == 1 && strstr(warnings[0], "IPv6"));
        assert(startswith(warnings[0], "x.conf:2: "));
        config_done(&c);
}

static void test_quoting(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        Config c;

        parse_ok("# A comment\n"
                 "\n"
                 "   export num_cvd_accounts=\"12\"\n"
                 "bridge_interface='br-x'   # trailing comment\n"
                 "dns_servers=\"1.1.1.1,1.0.0.1\" # another\n"
                 "export\tdefault_backend=crosvm\t# after a tab\n"
                 "\tdnsmasq_user='nobody'\n"
                 "ipv4_bridge=0 #\n"
                 "dns6_servers=''\n"
                 "vmm_seccomp=\"no\"",
                 &c,
                 &warnings);
        assert(strv_length(warnings) == 0);
        assert(c.net.n_slots == 12);
        assert(streq_ptr(c.net.bridge_interface, "br-x"));
        assert(c.net.n_dns_servers == 2);
        assert_ipv4(c.net.dns_servers[1], "1.0.0.1");
        assert(c.default_backend == BACKEND_CROSVM);
        assert(streq_ptr(c.net.dnsmasq_user, "nobody"));
        assert(!c.net.ipv4_bridge);
        assert(c.net.n_dns6_servers == 0);
        assert(!c.vmm_seccomp);
        config_done(&c);

        /* '#' inside a word belongs to it, as in the shell. */
        parse_ok("bridge_interface=br#1\n", &c, NULL);
        assert(streq_ptr(c.net.bridge_interface, "br#1"));
        config_done(&c);
        parse_ok("bridge_interface=\"br#2\" # comment\n", &c, NULL);
        assert(streq_ptr(c.net.bridge_interface, "br#2"));
        config_done(&c);

        /* A quote of the other kind inside quotes is literal. */
        parse_ok("bridge_interface='a\"b'\n", &c, NULL);
        assert(streq_ptr(c.net.bridge_interface, "a\"b"));
        config_done(&c);

        /* CRLF line endings, as written by editors on other systems. */
        parse_ok("num_cvd_accounts=5\r\n\r\nbridge_interface=\"br0\"\r\n# c\r\nipv4_bridge=0\r\n",
                 &c,
                 &warnings);
        assert(c.net.n_slots == 5);
        assert(streq_ptr(c.net.bridge_interface, "br0"));
        assert(!c.net.ipv4_bridge);
        config_done(&c);
}

static void test_error_prefix(void) {
        /* A bad value on line 3 (blank lines and comments count). */
        assert_error("# settings\n"
                     "\n"
                     "num_cvd_accounts=abc\n"
                     "ipv4_bridge=1\n",
                     "x.conf:3: num_cvd_accounts=abc: ",
                     "not a number",
                     NULL);
        assert_error("ipv4_bridge=1\n\n   export num_cvd_accounts='1 2'\n",
                     "x.conf:3: num_cvd_accounts=1 2: ",
                     NULL);
        assert_error("\r\n\r\nnum_cvd_accounts=x\r\n", "x.conf:3: num_cvd_accounts=x: ", NULL);
        /* A syntax error on line 3. */
        assert_error("a=1\n\nfoo bar\n", "x.conf:3: ", "KEY=value", NULL);
        /* The first error wins. */
        assert_error("\nipv4_bridge=perhaps\nnum_cvd_accounts=x\n", "x.conf:2: ipv4_bridge=perhaps: ", NULL);
        /* No trailing newline. */
        assert_error("ipv4_bridge=1\nfirewall=ufw", "x.conf:2: firewall=ufw: ", NULL);
        /* The source name is whatever the caller says. */
        {
                _cleanup_free_ char *error = NULL;
                Config c;

                assert(config_parse("/etc/default/cuttlefish-host-resources",
                                    "firewall=x\n",
                                    &c,
                                    &error,
                                    NULL) == -EINVAL);
                assert(startswith(error, "/etc/default/cuttlefish-host-resources:1: firewall=x: "));
        }
}

static void test_syntax_errors(void) {
        _cleanup_free_ char *long_line = NULL, *max_line = NULL;
        Config c;

        assert_error("num_cvd_accounts\n", "x.conf:1: ", "KEY=value", NULL);
        assert_error("export\n", "x.conf:1: ", "KEY=value", NULL);
        assert_error("num cvd=1\n", "x.conf:1: ", "not a valid key name", NULL);
        assert_error("num_cvd_accounts = 3\n", "x.conf:1: ", "not a valid key name", NULL);
        assert_error("1abc=2\n", "x.conf:1: ", "not a valid key name", NULL);
        assert_error("=1\n", "x.conf:1: ", "empty key", NULL);
        assert_error("bridge_interface=\"br0\n", "x.conf:1: ", "unterminated quote", NULL);
        assert_error("bridge_interface='br0\n", "x.conf:1: ", "unterminated quote", NULL);
        assert_error("bridge_interface='br0\"\n", "x.conf:1: ", "unterminated quote", NULL);
        assert_error("bridge_interface=br0 br1\n", "x.conf:1: ", "unexpected text", NULL);
        assert_error("bridge_interface=\"br0\"x\n", "x.conf:1: ", "unexpected text", NULL);
        assert_error("bridge_interface=\"br0\" \"br1\"\n", "x.conf:1: ", "unexpected text", NULL);
        /* Parsed, never sourced: no expansion. */
        assert_error("bridge_interface=$HOME\n", "x.conf:1: ", "shell expansion", NULL);
        assert_error("bridge_interface=\"$HOME\"\n", "x.conf:1: ", "shell expansion", NULL);
        assert_error("bridge_interface=${BR:-br0}\n", "x.conf:1: ", "shell expansion", NULL);
        assert_error("bridge_interface=`hostname`\n", "x.conf:1: ", "shell expansion", NULL);
        assert_error("num_cvd_accounts=$(nproc)\n", "x.conf:1: ", "shell expansion", NULL);
        /* Unknown keys are checked for syntax too. */
        assert_error("\nFOO=$HOME\n", "x.conf:2: ", "shell expansion", NULL);

        /* 4096 characters are fine, 4097 are not. */
        max_line = malloc(4096 + 2);
        assert(max_line);
        max_line[0] = '#';
        memset(max_line + 1, 'x', 4095);
        strcpy(max_line + 4096, "\n");
        parse_ok(max_line, &c, NULL);
        config_done(&c);

        long_line = malloc(4097 + 20);
        assert(long_line);
        strcpy(long_line, "num_cvd_accounts=1\n#");
        memset(long_line + 20, 'x', 4096);
        long_line[20 + 4096] = 0;
        assert(strlen(long_line) == 20 + 4096);
        assert_error(long_line, "x.conf:2: ", "too long", NULL);
}

static void test_num_cvd_accounts(void) {
        Config c;

        assert_error("num_cvd_accounts=0\n", "x.conf:1: num_cvd_accounts=0: ", "253", NULL);
        assert_error("num_cvd_accounts=254\n", "x.conf:1: num_cvd_accounts=254: ", "253", NULL);
        assert_error("num_cvd_accounts=-1\n", "x.conf:1: num_cvd_accounts=-1: ", NULL);
        assert_error("num_cvd_accounts=+5\n", "x.conf:1: num_cvd_accounts=+5: ", NULL);
        assert_error("num_cvd_accounts=0x10\n", "x.conf:1: num_cvd_accounts=0x10: ", NULL);
        assert_error("num_cvd_accounts=1.5\n", "x.conf:1: num_cvd_accounts=1.5: ", NULL);
        assert_error("num_cvd_accounts=\n", "x.conf:1: num_cvd_accounts=: ", NULL);
        assert_error("num_cvd_accounts=4294967297\n", "x.conf:1: ", NULL);
        assert_error("num_cvd_accounts=99999999999999999999999\n", "x.conf:1: ", NULL);

        parse_ok("num_cvd_accounts=1\n", &c, NULL);
        assert(c.net.n_slots == 1);
        config_done(&c);
        /* Leading zeros are decimal, not octal. */
        parse_ok("num_cvd_accounts=010\n", &c, NULL);
        assert(c.net.n_slots == 10);
        config_done(&c);
        parse_ok("num_cvd_accounts=128\n", &c, NULL);
        assert(c.net.n_slots == 128);
        config_done(&c);

        /* Past the default pools: the message names the limit and the keys that raise it. */
        assert_error("# more guests\nnum_cvd_accounts=200\n",
                     "x.conf:2: num_cvd_accounts=200: ",
                     "128",
                     "mobile_ipv4_pools",
                     "wifiap_ipv4_pools",
                     NULL);
        assert_error("num_cvd_accounts=129\n", "x.conf:1: num_cvd_accounts=129: ", "128", NULL);

        /* Four pools each hold 253; the order of the lines does not matter. */
        parse_ok("num_cvd_accounts=250\n"
                 "mobile_ipv4_pools=192.168.97.0/24,192.168.93.0/24,10.0.3.0/24,10.0.4.0/24\n"
                 "wifiap_ipv4_pools=192.168.94.0/24,192.168.95.0/24,10.1.3.0/24,10.1.4.0/24\n",
                 &c,
                 NULL);
        assert(c.net.n_slots == 250);
        assert(net_config_slot_capacity(&c.net) == 253);
        config_done(&c);
        parse_ok("mobile_ipv4_pools=192.168.97.0/24,192.168.93.0/24,10.0.3.0/24,10.0.4.0/24\n"
                 "wifiap_ipv4_pools=192.168.94.0/24,192.168.95.0/24,10.1.3.0/24,10.1.4.0/24\n"
                 "num_cvd_accounts=253\n",
                 &c,
                 NULL);
        assert(c.net.n_slots == 253);
        config_done(&c);

        /* The smaller list limits: 4 mobile but 3 wifiap pools hold 192. */
        assert_error("num_cvd_accounts=250\n"
                     "mobile_ipv4_pools=192.168.97.0/24,192.168.93.0/24,10.0.3.0/24,10.0.4.0/24\n"
                     "wifiap_ipv4_pools=192.168.94.0/24,192.168.95.0/24,10.1.3.0/24\n",
                     "x.conf:1: num_cvd_accounts=250: ",
                     "192",
                     NULL);

        /* Shrinking the pools below the default slot count. */
        parse_ok("mobile_ipv4_pools=10.0.0.0/24\nwifiap_ipv4_pools=10.0.1.0/24\nnum_cvd_accounts=64\n",
                 &c,
                 NULL);
        config_done(&c);
        assert_error("mobile_ipv4_pools=10.0.0.0/24\nwifiap_ipv4_pools=10.0.1.0/24\nnum_cvd_accounts=65\n",
                     "x.conf:3: num_cvd_accounts=65: ",
                     "64",
                     NULL);
}

static void test_pools(void) {
        Config c;

        assert_error("mobile_ipv4_pools=192.168.97.0/25\n",
                     "x.conf:1: mobile_ipv4_pools=192.168.97.0/25: ",
                     "/24",
                     NULL);
        assert_error("mobile_ipv4_pools=192.168.97.0\n", "x.conf:1: mobile_ipv4_pools=192.168.97.0: ", NULL);
        assert_error("mobile_ipv4_pools=192.168.97.1/24\n",
                     "x.conf:1: mobile_ipv4_pools=192.168.97.1/24: ",
                     NULL);
        assert_error("wifiap_ipv4_pools=192.168.300.0/24\n",
                     "x.conf:1: wifiap_ipv4_pools=192.168.300.0/24: ",
                     NULL);
        assert_error("wifiap_ipv4_pools=\n", "x.conf:1: wifiap_ipv4_pools=: ", "empty", NULL);
        assert_error("wifiap_ipv4_pools=\" , \"\n", "x.conf:1: ", "empty", NULL);
        assert_error("mobile_ipv4_pools=10.0.0.0/24,10.0.0.0/24\n", "x.conf:1: ", "twice", NULL);
        assert_error("mobile_ipv4_pools=10.0.0.0/24,10.0.1.0/24,10.0.2.0/24,10.0.3.0/24,10.0.4.0/24,"
                     "10.0.5.0/24,10.0.6.0/24,10.0.7.0/24,10.0.8.0/24\n",
                     "x.conf:1: ",
                     "too many",
                     NULL);

        /* Eight is the most. */
        parse_ok("mobile_ipv4_pools=10.0.0.0/24,10.0.1.0/24,10.0.2.0/24,10.0.3.0/24,10.0.4.0/24,"
                 "10.0.5.0/24,10.0.6.0/24,10.0.7.0/24\n",
                 &c,
                 NULL);
        assert(c.net.n_mobile_pools == 8);
        config_done(&c);

        /* Overlaps: between the lists, and with the bridges' /24s. */
        assert_error("mobile_ipv4_pools=10.0.0.0/24\nwifiap_ipv4_pools=10.0.1.0/24,10.0.0.0/24\n",
                     "x.conf:2: ",
                     "wifiap_ipv4_pools",
                     "10.0.0.0/24",
                     NULL);
        assert_error("\nmobile_ipv4_pools=192.168.98.0/24\n",
                     "x.conf:2: ",
                     "mobile_ipv4_pools",
                     "192.168.98.0/24",
                     NULL);
        assert_error("wifiap_ipv4_pools=192.168.96.0/24\n",
                     "x.conf:1: ",
                     "wifiap_ipv4_pools",
                     "192.168.96.0/24",
                     NULL);
}

/* A pool that collides with the other list's default: the line to fix is the one that was
 * written, not line 0 of the key left at its default. Last in main(): it found a bug. */
static void test_pool_overlap_with_default(void) {
        assert_error("num_cvd_accounts=2\nmobile_ipv4_pools=192.168.94.0/24\n",
                     "x.conf:2: ",
                     "mobile_ipv4_pools",
                     "192.168.94.0/24",
                     NULL);
        assert_error("wifiap_ipv4_pools=10.0.0.0/24,192.168.93.0/24\n",
                     "x.conf:1: ",
                     "wifiap_ipv4_pools",
                     "192.168.93.0/24",
                     NULL);
}

static void test_unknown_key(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        Config c;

        parse_ok("num_cvd_accounts=3\nfoo_bar=1\nexport BAZ='x y'\n", &c, &warnings);
        assert(c.net.n_slots == 3);
        assert(strv_length(warnings) == 2);
        assert(startswith(warnings[0], "x.conf:2: "));
        assert(strstr(warnings[0], "foo_bar"));
        assert(startswith(warnings[1], "x.conf:3: "));
        assert(strstr(warnings[1], "BAZ"));
        config_done(&c);

        /* Keys are case-sensitive, as in the shell. */
        warnings = strv_free(warnings);
        parse_ok("NUM_CVD_ACCOUNTS=3\n", &c, &warnings);
        assert(c.net.n_slots == 10);
        assert(strv_length(warnings) == 1 && strstr(warnings[0], "NUM_CVD_ACCOUNTS"));
        config_done(&c);
}

static void test_duplicate_key(void) {
        _cleanup_(strv_freep) char **warnings = NULL;
        Config c;

        parse_ok("num_cvd_accounts=3\n\nnum_cvd_accounts=4\n", &c, &warnings);
        assert(c.net.n_slots == 4); /* the last value counts, as when sourced */
        assert(strv_length(warnings) == 1);
        assert(startswith(warnings[0], "x.conf:3: "));
        assert(strstr(warnings[0], "num_cvd_accounts"));
        assert(strstr(warnings[0], "line 1"));
        config_done(&c);

        /* A later bad duplicate is still an error. */
        assert_error("num_cvd_accounts=3\nnum_cvd_accounts=x\n", "x.conf:2: num_cvd_accounts=x: ", NULL);
}

static void test_ipv6_prefix(void) {
        Config c;

        assert_error("ethernet_ipv6_prefix=2001:db8:1::\n",
                     "x.conf:1: ",
                     "ethernet_ipv6_prefix",
                     "_length",
                     NULL);
        assert_error("num_cvd_accounts=2\nwifi_ipv6_prefix=2001:db8:1::\n",
                     "x.conf:2: ",
                     "wifi_ipv6_prefix",
                     "wifi_ipv6_prefix_length",
                     NULL);
        /* The bridge gets "${prefix}1", which must be an address. */
        assert_error("ethernet_ipv6_prefix=2001:db8:1:\nethernet_ipv6_prefix_length=64\n",
                     "x.conf:1: ethernet_ipv6_prefix=2001:db8:1:: ",
                     NULL);
        assert_error("ethernet_ipv6_prefix=2001:db8:1::/64\n", "x.conf:1: ", NULL);
        assert_error("wifi_ipv6_prefix=192.168.1.\n", "x.conf:1: ", NULL);
        assert_error("wifi_ipv6_prefix_length=0\n", "x.conf:1: wifi_ipv6_prefix_length=0: ", "128", NULL);
        assert_error("wifi_ipv6_prefix_length=129\n", "x.conf:1: wifi_ipv6_prefix_length=129: ", NULL);
        assert_error("ethernet_ipv6_prefix_length=/64\n", "x.conf:1: ", NULL);

        parse_ok("ethernet_ipv6_prefix=\"2001:db8:1::\"\nethernet_ipv6_prefix_length=64\n", &c, NULL);
        assert(streq_ptr(c.net.ethernet_ipv6_prefix, "2001:db8:1::"));
        assert(c.net.ethernet_ipv6_prefix_length == 64);
        assert(!c.net.wifi_ipv6_prefix);
        config_done(&c);

        /* Length first is as good; an empty prefix unsets it. */
        parse_ok("wifi_ipv6_prefix_length=64\nwifi_ipv6_prefix=fd00:1:2:3::\n", &c, NULL);
        assert(streq_ptr(c.net.wifi_ipv6_prefix, "fd00:1:2:3::"));
        config_done(&c);
        parse_ok("wifi_ipv6_prefix=fd00::\nwifi_ipv6_prefix=\n", &c, NULL);
        assert(!c.net.wifi_ipv6_prefix);
        config_done(&c);
}

static void test_bad_values(void) {
        static const struct {
                const char *text, *prefix, *needle;
        } cases[] = {
                { "ipv4_bridge=maybe", "x.conf:1: ipv4_bridge=maybe: ", "boolean" },
                { "ipv6_bridge=", "x.conf:1: ipv6_bridge=: ", "boolean" },
                { "restore_sysctls=2", "x.conf:1: restore_sysctls=2: ", "boolean" },
                { "vmm_seccomp=enabled", "x.conf:1: vmm_seccomp=enabled: ", "boolean" },
                { "dhcp_ping=nope", "x.conf:1: dhcp_ping=nope: ", "boolean" },
                { "default_backend=kvm", "x.conf:1: default_backend=kvm: ", "qemu" },
                { "default_backend=QEMU", "x.conf:1: default_backend=QEMU: ", "qemu" },
                { "firewall=iptables", "x.conf:1: firewall=iptables: ", "nftables" },
                { "dnsmasq_user=", "x.conf:1: dnsmasq_user=: ", "empty" },
                { "dnsmasq_user='no body'", "x.conf:1: dnsmasq_user=no body: ", "user" },
                { "dnsmasq_user=root;id", "x.conf:1: dnsmasq_user=root;id: ", "user" },
                { "bridge_interface=averyveryverylongname",
                  "x.conf:1: bridge_interface=averyveryverylongname: ",
                  "interface name" },
                { "bridge_interface=a/b", "x.conf:1: bridge_interface=a/b: ", "interface name" },
                { "bridge_interface=a:b", "x.conf:1: bridge_interface=a:b: ", "interface name" },
                { "bridge_interface=..", "x.conf:1: bridge_interface=..: ", "interface name" },
                { "dns_servers=8.8.8.8,foo", "x.conf:1: dns_servers=8.8.8.8,foo: ", "'foo'" },
                { "dns_servers=8.8.8.8,2001:db8::1", "x.conf:1: ", "IPv4" },
                { "dns_servers=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9",
                  "x.conf:1: ",
                  "too many" },
                { "dns6_servers=8.8.8.8", "x.conf:1: dns6_servers=8.8.8.8: ", "IPv6" },
                { "max_instances_per_user=0", "x.conf:1: max_instances_per_user=0: ", "253" },
                { "max_instances_per_user=254", "x.conf:1: max_instances_per_user=254: ", "253" },
                { "max_instances_per_user=many", "x.conf:1: max_instances_per_user=many: ", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_error(cases[i].text, cases[i].prefix, cases[i].needle, NULL);
}

static void test_booleans(void) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on", "YES", "True" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off", "NO", "False" };
        char text[64];
        Config c;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                (void) snprintf(text, sizeof(text), "restore_sysctls=%s\n", yes[i]);
                parse_ok(text, &c, NULL);
                assert(c.net.restore_sysctls);
                config_done(&c);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                (void) snprintf(text, sizeof(text), "vmm_seccomp=%s\n", no[i]);
                parse_ok(text, &c, NULL);
                assert(!c.vmm_seccomp);
                config_done(&c);
        }
}

static void write_file(const char *path, const char *data, size_t size) {
        FILE *f = fopen(path, "we");

        assert(f);
        assert(fwrite(data, 1, size, f) == size);
        assert(fclose(f) == 0);
}

static void test_load(void) {
        _cleanup_free_ char *dir = NULL, *good = NULL, *bad = NULL, *nul = NULL, *missing = NULL;
        _cleanup_(strv_freep) char **warnings = NULL;
        const char *tmp = getenv("TMPDIR");
        char *error = NULL;
        Config c;

        assert(asprintf(&dir, "%s/test-config-XXXXXX", tmp ?: "/tmp") >= 0);
        assert(mkdtemp(dir));
        good = path_join(dir, "good");
        bad = path_join(dir, "bad");
        nul = path_join(dir, "nul");
        missing = path_join(dir, "missing");
        assert(good && bad && nul && missing);

        write_file(good, "num_cvd_accounts=7\nbogus=1\n", strlen("num_cvd_accounts=7\nbogus=1\n"));
        assert(config_load(good, true, &c, &error, &warnings) == 0);
        assert(!error);
        assert(c.net.n_slots == 7);
        assert(strv_length(warnings) == 1);
        assert(startswith(warnings[0], good));
        assert(startswith(warnings[0] + strlen(good), ":2: "));
        config_done(&c);

        /* Messages name the path. */
        write_file(bad, "\nnum_cvd_accounts=0\n", strlen("\nnum_cvd_accounts=0\n"));
        assert(config_load(bad, true, &c, &error, NULL) == -EINVAL);
        assert(error && startswith(error, bad));
        assert(startswith(error + strlen(bad), ":2: num_cvd_accounts=0: "));
        error = mfree(error);

        /* NUL bytes: not a text file. */
        write_file(nul, "num_cvd_accounts=7\n\0num_cvd_accounts=8\n", 40);
        assert(config_load(nul, true, &c, &error, NULL) == -EINVAL);
        assert(error && strstr(error, "NUL"));
        error = mfree(error);

        /* Missing: defaults unless the file was asked for by name. */
        assert(config_load(missing, false, &c, &error, NULL) == 0);
        assert(!error);
        assert_defaults(&c);
        config_done(&c);
        assert(config_load(missing, true, &c, &error, NULL) == -ENOENT);
        assert(error && startswith(error, missing));
        error = mfree(error);

        assert(unlink(good) == 0 && unlink(bad) == 0 && unlink(nul) == 0);
        assert(rmdir(dir) == 0);
}

int main(void) {
        static const struct {
                const char *name;
                void (*func)(void);
        } tests[] = {
                { "defaults", test_defaults },
                { "every_key_managed", test_every_key_managed },
                { "every_key_bridge_interface", test_every_key_bridge_interface },
                { "quoting", test_quoting },
                { "error_prefix", test_error_prefix },
                { "syntax_errors", test_syntax_errors },
                { "num_cvd_accounts", test_num_cvd_accounts },
                { "pools", test_pools },
                { "unknown_key", test_unknown_key },
                { "duplicate_key", test_duplicate_key },
                { "ipv6_prefix", test_ipv6_prefix },
                { "bad_values", test_bad_values },
                { "booleans", test_booleans },
                { "load", test_load },
                { "pool_overlap_with_default", test_pool_overlap_with_default },
        };

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].func();
                printf("ok %zu - config: %s\n", i + 1, tests[i].name);
                fflush(stdout); /* an assert() later aborts without flushing */
        }
        return EXIT_SUCCESS;
}
