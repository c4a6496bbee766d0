/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* On a terminal, run polkit's text agent for the duration of the call, as systemctl does, so an
 * administrator on SSH can authenticate without a desktop. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfctl/cfctl.h"
#include "common/macro.h"
#include "common/process-util.h"

#define PKTTYAGENT "/usr/bin/pkttyagent"

static pid_t agent_pid = 0;

void cfctl_agent_open(void) {
        char notify[16], pid_arg[16];
        int fds[2], r;
        pid_t pid;

        if (agent_pid > 0 || !arg_ask_password || geteuid() == 0 || !isatty(STDIN_FILENO) ||
            access(PKTTYAGENT, X_OK) < 0)
                return;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;

        r = safe_fork("pkttyagent", FORK_DEATHSIG_SIGTERM, &pid);
        if (r < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (r == 0) {
                /* The agent tells us it is ready by closing the notify fd. */
                (void) fcntl(fds[1], F_SETFD, 0);
                (void) snprintf(notify, sizeof(notify), "%i", fds[1]);
                (void) snprintf(pid_arg, sizeof(pid_arg), "%i", (int) getppid());
                execl(PKTTYAGENT,
                      PKTTYAGENT,
                      "--notify-fd",
                      notify,
                      "--fallback",
                      "--process",
                      pid_arg,
                      NULL);
                _exit(127);
        }
        close(fds[1]);
        /* Wait (bounded) until it has registered, so the call that follows can use it. */
        (void) poll(&(struct pollfd){ .fd = fds[0], .events = POLLIN }, 1, 5000);
        close(fds[0]);
        agent_pid = pid;
}

void cfctl_agent_close(void) {
        if (agent_pid <= 0)
                return;
        (void) kill(agent_pid, SIGTERM);
        (void) waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
}
