/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Is KVM usable for QEMU here? /dev/kvm can exist and still fail: nested hosts that reject MSR
 * writes abort QEMU at the first vCPU reset, and others run real-mode code but hang a guest as
 * soon as it enters 64-bit mode (a Linux guest then stops right after "Probing EDD"). So the only
 * reliable answer is to try what a guest does: QEMU with KVM boots a 64 KiB firmware of ours that
 * goes from real mode through protected mode and paging into long mode and writes 'K' to the
 * serial port. KVM is usable when the 'K' arrives. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "vmm/kvm.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/process-util.h"

#define KVM_PROBE_MSEC 2000
#define PROBE_BIOS_SIZE 65536

/* At F000:0000, assembled from (GNU as, AT&T syntax; the reset vector at F000:FFF0 jumps here):
 *
 *   .code16: cli; lgdtl %cs:gdtr; cr0 |= PE; ljmpl $0x08, pm32
 *   .code32: ds = es = ss = 0x10; identity-map the first 2 MiB (PML4 at 0x1000, PDPT at 0x2000,
 *            PD at 0x3000 with one 2 MiB page); cr3 = 0x1000; cr4 |= PAE; EFER |= LME (rdmsr and
 *            wrmsr of 0xC0000080); cr0 |= PG; ljmpl $0x18, lm64
 *   .code64: outb 'K' to 0x3f8; 1: hlt; jmp 1b
 *   gdt: null, 32-bit code 0x00CF9A000000FFFF, data 0x00CF92000000FFFF, 64-bit code
 *        0x00AF9A000000FFFF; gdtr: limit, base 0xF0080 */
static const unsigned char probe_code[] = {
        0xfa, 0x2e, 0x66, 0x0f, 0x01, 0x16, 0xa0, 0x00, 0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22,
        0xc0, 0x66, 0xea, 0x1a, 0x00, 0x0f, 0x00, 0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0,
        0x8e, 0xd0, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x20, 0x00,
        0x00, 0x03, 0x30, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0xb8, 0x00,
        0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0, 0xb9, 0x80,
        0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x00,
        0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0x73, 0x00, 0x0f, 0x00, 0x18, 0x00, 0x66, 0xba, 0xf8, 0x03,
        0xb0, 0x4b, 0xee, 0xf4, 0xeb, 0xfd, 0x8d, 0x76, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00, 0x1f, 0x00, 0x80, 0x00, 0x0f, 0x00,
};

static int probe_bios_fd(void) {
        _cleanup_free_ unsigned char *image = malloc(PROBE_BIOS_SIZE);
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!image)
                return -ENOMEM;
        memset(image, 0xf4, PROBE_BIOS_SIZE); /* hlt */
        memcpy(image, probe_code, sizeof(probe_code));
        /* The reset vector: ljmp F000:0000. */
        memcpy(image + 0xfff0, (const unsigned char[]){ 0xea, 0x00, 0x00, 0x00, 0xf0 }, 5);
        fd = memfd_create("cfhr-kvm-probe", 0);
        if (fd < 0)
                return -errno;
        r = write_all(fd, image, PROBE_BIOS_SIZE);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* In the child: QEMU under KVM on our firmware, its serial port on stdout. */
static _noreturn_ void probe_child(const char *qemu) {
        int bios = probe_bios_fd();
        char bios_path[] = "/proc/self/fd/3";

        if (bios < 0)
                _exit(126);
        char *const argv[] = { (char *) qemu,
                               (char *) "-accel",
                               (char *) "kvm",
                               (char *) "-cpu",
                               (char *) "host",
                               (char *) "-nodefaults",
                               (char *) "-no-user-config",
                               (char *) "-display",
                               (char *) "none",
                               (char *) "-m",
                               (char *) "16",
                               (char *) "-bios",
                               bios_path,
                               (char *) "-serial",
                               (char *) "stdio",
                               NULL };

        /* The firmware at 3 (not close-on-exec: memfd_create() without MFD_CLOEXEC). */
        if (dup2(bios, 3) < 0 || close_from(4) < 0)
                _exit(126);
        execv(qemu, argv);
        _exit(127);
}

/* Why the guest did not answer: the first line of QEMU's stderr, or, when QEMU wrote nothing or
 * was killed still running, the timeout. */
static void probe_failure_reason(int err_fd, int status, char *reason, size_t reason_size) {
        ssize_t n;

        n = read(err_fd, reason, reason_size > 0 ? reason_size - 1 : 0);
        if (n > 0) {
                reason[n] = 0;
                reason[strcspn(reason, "\n")] = 0;
        }
        /* QEMU's warnings ("host doesn't support requested feature") are not the reason. */
        if (n <= 0 || WIFSIGNALED(status))
                (void) snprintf(reason,
                                reason_size,
                                "a guest under KVM did not reach 64-bit mode within %u s (nested KVM that "
                                "cannot run it?)",
                                KVM_PROBE_MSEC / 1000);
}

int kvm_probe(const char *qemu, char *reason, size_t reason_size) {
        int serial[2], err[2], status = 0, r;
        char buf[2];
        ssize_t n;
        pid_t pid;

        if (reason_size > 0)
                reason[0] = 0;
        if (access("/dev/kvm", R_OK | W_OK) < 0) {
                (void) snprintf(reason, reason_size, "/dev/kvm: %s", strerror(errno));
                return 0;
        }
        if (pipe2(serial, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                safe_close(serial[0]);
                safe_close(serial[1]);
                return -errno;
        }

        /* Nothing of ours but the firmware, made below (it lands at 3). */
        r =
                        safe_fork_full("KVM probe",
                                       FORK_DEATHSIG_SIGKILL | FORK_REARRANGE_STDIO | FORK_CLOSE_ALL_FDS,
                                       (const int[]){ -EBADF, serial[1], err[1] },
                                       NULL,
                                       0,
                                       &pid);
        if (r < 0) {
                safe_close(serial[0]);
                safe_close(serial[1]);
                safe_close(err[0]);
                safe_close(err[1]);
                return r;
        }
        if (r == 0)
                probe_child(qemu);
        safe_close(serial[1]);
        safe_close(err[1]);

        /* The guest's one byte, or EOF when QEMU exits, or nothing within the bound. */
        n = read_bounded(serial[0], buf, 2, KVM_PROBE_MSEC, false);
        safe_close(serial[0]);
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
        if (n == 1 && buf[0] == 'K') {
                safe_close(err[0]);
                return 1;
        }
        probe_failure_reason(err[0], status, reason, reason_size);
        safe_close(err[0]);
        return 0;
}

bool kvm_device_accessible(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        struct stat st;
        bool in_group = false;

        if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode))
                return false;
        if (uid == 0)
                return true;
        if (st.st_uid == uid)
                return (st.st_mode & (S_IRUSR | S_IWUSR)) == (S_IRUSR | S_IWUSR);
        in_group = st.st_gid == gid;
        for (size_t k = 0; k < n_groups && !in_group; k++)
                in_group = groups[k] == st.st_gid;
        if (in_group)
                return (st.st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP);
        return (st.st_mode & (S_IROTH | S_IWOTH)) == (S_IROTH | S_IWOTH);
}
