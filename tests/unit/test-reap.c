/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reap_child_detached() (daemon/reap.c): a SIGKILLed child handed to the event loop is reaped
 * there, and its event source with the pidfd it holds is freed once it is: many of them leave
 * neither a zombie nor a descriptor behind. */
#undef NDEBUG
#include <assert.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "common/macro.h"
#include "common/time-util.h"
#include "daemon/reap.h"

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        assert(d);
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Still a child of ours (a zombie included)? */
static bool is_child(pid_t pid) {
        siginfo_t si = {};

        return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

int main(void) {
        sd_event *e = NULL;
        sigset_t mask;
        unsigned before;
        pid_t pids[50];

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        assert(sigprocmask(SIG_BLOCK, &mask, NULL) == 0);
        assert(sd_event_new(&e) >= 0);
        before = count_fds();

        for (size_t k = 0; k < ELEMENTSOF(pids); k++) {
                pids[k] = fork();
                assert(pids[k] >= 0);
                if (pids[k] == 0) {
                        for (;;)
                                pause();
                }
                assert(kill(pids[k], SIGKILL) == 0);
                assert(reap_child_detached(e, pids[k]) >= 0);
        }
        /* Every child reaped and every source gone, within a bound. */
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        for (;;) {
                bool left = false;

                for (size_t k = 0; k < ELEMENTSOF(pids); k++)
                        left = left || is_child(pids[k]);
                if (!left && count_fds() == before)
                        break;
                assert(now_usec(CLOCK_MONOTONIC) < deadline);
                assert(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
        }
        assert(reap_child_detached(e, 0) == 0);
        sd_event_unref(e);
        printf("test-reap: %zu detached children reaped, no descriptor left\n", ELEMENTSOF(pids));
        return 0;
}
