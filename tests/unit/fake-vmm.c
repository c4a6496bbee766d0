/* SPDX-License-Identifier: LGPL-2.1-or-later */
#undef NDEBUG
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs-util.h"
#include "common/macro.h"
#include "tests/unit/fake-vmm.h"

FakeVmm fake = { .cmd_fd = -EBADF };

void fake_vmm_reset(void) {
        fake = (FakeVmm){ .cmd_fd = fake.cmd_fd };
}

void fake_vmm_send(char c) {
        assert(fake.cmd_fd >= 0);
        assert(write(fake.cmd_fd, &c, 1) == 1);
}

void fake_vmm_release(void) {
        fake.cmd_fd = safe_close(fake.cmd_fd);
}

/* SIGTERM's disposition came with the fork (fake_vmm_spawn()). */
static _noreturn_ void fake_vmm_child(int cmd_fd) {
        char c = 0;

        for (;;) {
                ssize_t n = read(cmd_fd, &c, 1);

                if (n == 0)
                        _exit(0); /* the test went away */
                if (n < 0)
                        continue;
                if (c == 's')
                        raise(SIGSEGV);
                if (c >= 'a' && c <= 'z')
                        continue;
                _exit((unsigned char) c);
        }
}

static int on_spawned(sd_event_source *s, void *userdata) {
        Instance *i = userdata;
        pid_t pid = i->spawn.pid;

        sd_event_source_unref(s);
        i->spawn.pid = 0;
        if (fake.spawn_fails_late) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                instance_notify_spawn_failed(i, "sandbox step fake: Operation not permitted");
                return 0;
        }
        instance_notify_spawned(i, pid);
        return 0;
}

static int fake_vmm_spawn(Instance *i, char **ret_error) {
        sighandler_t saved;
        int p[2];
        pid_t pid;

        if (fake.spawn_fails) {
                *ret_error = strdup("the fake plan failed");
                return -ENOENT;
        }
        assert(mkdir_p(i->runtime_dir, 0700) >= 0);
        safe_close(open(i->console_log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        fake_vmm_release();
        assert(pipe2(p, O_CLOEXEC) == 0);
        /* The child inherits the disposition at fork: a SIGTERM sent before its first instruction
         * must find it ignored already. */
        saved = signal(SIGTERM, fake.ignore_term ? SIG_IGN : SIG_DFL);
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                sigset_t none;

                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                safe_close(p[1]);
                fake_vmm_child(p[0]);
        }
        (void) signal(SIGTERM, saved);
        safe_close(p[0]);
        fake.cmd_fd = p[1];
        /* As the real spawn: the outcome comes later, from the event loop. */
        i->spawn.pid = pid;
        assert(sd_event_add_defer(i->manager->event, NULL, on_spawned, i) >= 0);
        return 0;
}

static int fake_connect(Instance *i) {
        instance_notify_control_ready(i);
        return 0;
}

static int fake_stop(Instance *i, bool graceful) {
        if (graceful) {
                fake.stops_graceful++;
                if (fake.graceful_ok)
                        fake_vmm_send(0); /* the guest powers off: exit 0 */
                return 0;
        }
        fake.stops_quit++;
        return -EOPNOTSUPP; /* the supervisor falls back to SIGTERM */
}

static bool fake_exit_outcome(Instance *i, int status, InstanceReason *ret) {
        if (status != 32)
                return false;
        *ret = REASON_GUEST_RESET;
        return true;
}

const BackendOps fake_vmm_ops = {
        .backend = BACKEND_QEMU,
        .connect = fake_connect,
        .stop = fake_stop,
        .exit_outcome = fake_exit_outcome,
};

/* The test's directory */

static char tmp[] = "/var/tmp/test-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
static bool have_tmp;
static pid_t main_pid;

/* Only the test's own process cleans up: the children it forks inherit the handler. */
static void cleanup_and_die(int sig) {
        if (getpid() == main_pid && have_tmp)
                (void) rm_rf(tmp);
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

Manager *test_manager_new(const char *name) {
        _cleanup_free_ char *run = NULL, *state = NULL;
        Manager *m = NULL;
        sigset_t mask;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        assert(sigprocmask(SIG_BLOCK, &mask, NULL) == 0);
        (void) signal(SIGPIPE, SIG_IGN);

        assert(snprintf(tmp, sizeof(tmp), "/var/tmp/test-%s-XXXXXX", name) < (int) sizeof(tmp));
        assert(mkdtemp(tmp));
        have_tmp = true;
        main_pid = getpid();
        (void) signal(SIGABRT, cleanup_and_die);
        (void) signal(SIGTERM, cleanup_and_die);

        run = path_join(tmp, "run");
        state = path_join(tmp, "state");
        assert(run && state && mkdir(run, 0755) == 0 && mkdir(state, 0755) == 0);
        assert(manager_new("/nonexistent/config", false, run, state, &m) >= 0);
        /* No transient scopes: the fake VMMs are this test's children. */
        m->use_scopes = false;
        instance_spawn_hook = fake_vmm_spawn;
        return m;
}

void test_manager_free(Manager *m) {
        manager_free(m);
        fake_vmm_release();
        (void) rm_rf(tmp);
        have_tmp = false;
}
