/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Is KVM usable for QEMU here? /dev/kvm can exist and still fail (nested hosts that reject MSR
 * writes abort QEMU at the first vCPU reset), so the only reliable answer is to try: start QEMU
 * paused with KVM and see whether it survives a moment. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kvm.h"
#include "util.h"

#define KVM_PROBE_MSEC 700

int kvm_probe(const char *qemu, char *reason, size_t reason_size) {
        _cleanup_close_ int pidfd = -EBADF;
        int out[2];
        pid_t pid;
        int status = 0, r;

        if (reason_size > 0)
                reason[0] = 0;
        if (access("/dev/kvm", R_OK | W_OK) < 0) {
                (void) snprintf(reason, reason_size, "/dev/kvm: %s", strerror(errno));
                return 0;
        }
        if (pipe2(out, O_CLOEXEC) < 0)
                return -errno;

        pid = fork();
        if (pid < 0) {
                safe_close(out[0]);
                safe_close(out[1]);
                return -errno;
        }
        if (pid == 0) {
                char *const argv[] = { (char *) qemu,       (char *) "-accel", (char *) "kvm",
                                       (char *) "-cpu",     (char *) "host",   (char *) "-nodefaults",
                                       (char *) "-display", (char *) "none",   (char *) "-S",
                                       (char *) "-m",       (char *) "16",     NULL };
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                (void) dup2(null, STDIN_FILENO);
                (void) dup2(out[1], STDOUT_FILENO);
                (void) dup2(out[1], STDERR_FILENO);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execv(qemu, argv);
                _exit(127);
        }
        safe_close(out[1]);

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        r = pidfd >= 0 ? poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, KVM_PROBE_MSEC) : -1;
        if (r == 0) {
                /* Still running with its vCPU set up: KVM works. */
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                safe_close(out[0]);
                return 1;
        }
        (void) waitpid(pid, &status, 0);
        {
                ssize_t n = read(out[0], reason, reason_size > 0 ? reason_size - 1 : 0);
                if (n > 0) {
                        reason[n] = 0;
                        reason[strcspn(reason, "\n")] = 0;
                } else
                        (void) snprintf(reason, reason_size, "QEMU with KVM exited (status %i)", status);
        }
        safe_close(out[0]);
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
