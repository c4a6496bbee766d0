/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvm_probe() against a real QEMU: its firmware must take a vCPU from real mode into long mode
 * and print on the serial port. KVM itself may or may not work on the test machine, so the
 * accelerator is swapped by a wrapper script in front of QEMU:
 *   - with TCG (kvm -> tcg, host -> max) the firmware runs: usable (1);
 *   - a "QEMU" that never prints (sleep): not usable (0), with the reason;
 *   - a QEMU that exits at once (a bad option): not usable, QEMU's message as the reason.
 * Needs /dev/kvm (the probe checks it first) and qemu-system-x86_64; skipped (77) otherwise. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/kvm.h"
#include "common/fs-util.h"
#include "common/macro.h"

static char dir[] = "/var/tmp/test-kvm-probe-XXXXXX";

static char *wrapper(const char *name, const char *body) {
        char *p = path_join(dir, name);
        FILE *f;

        assert(p);
        f = fopen(p, "w");
        assert(f);
        fprintf(f, "#!/bin/bash\n%s\n", body);
        assert(fclose(f) == 0);
        assert(chmod(p, 0755) == 0);
        return p;
}

int main(void) {
        _cleanup_free_ char *tcg = NULL, *silent = NULL, *bad = NULL;
        char why[256];
        int r, failed = 0;

        if (access("/dev/kvm", R_OK | W_OK) < 0 || access("/usr/bin/qemu-system-x86_64", X_OK) < 0) {
                printf("SKIP: needs /dev/kvm and /usr/bin/qemu-system-x86_64\n");
                return 77;
        }
        assert(mkdtemp(dir));
        tcg = wrapper("tcg",
                      "a=(); for x in \"$@\"; do case $x in kvm) x=tcg;; host) x=max;; esac; a+=(\"$x\"); done\n"
                      "exec /usr/bin/qemu-system-x86_64 \"${a[@]}\"");
        silent = wrapper("silent", "exec sleep 30");
        bad = wrapper("bad", "exec /usr/bin/qemu-system-x86_64 -no-such-option");

        r = kvm_probe(tcg, why, sizeof(why));
        printf("%s: firmware under TCG: %d (%s)\n", r == 1 ? "ok" : "FAIL", r, why);
        failed += r != 1;

        r = kvm_probe(silent, why, sizeof(why));
        printf("%s: a VMM that never prints: %d (%s)\n",
               r == 0 && strstr(why, "64-bit") ? "ok" : "FAIL",
               r,
               why);
        failed += !(r == 0 && strstr(why, "64-bit"));

        r = kvm_probe(bad, why, sizeof(why));
        printf("%s: a VMM that exits: %d (%s)\n",
               r == 0 && strstr(why, "no-such-option") ? "ok" : "FAIL",
               r,
               why);
        failed += !(r == 0 && strstr(why, "no-such-option"));

        (void) rm_rf(dir);
        return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
