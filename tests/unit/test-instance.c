/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The instance supervisor (daemon/instance.c) driven through every transition with a real Manager
 * (manager_new() does no I/O) and real child processes, but the fake backend and spawn hook of
 * tests/unit/fake-vmm.c: the "VMM" is a forked child of this test that obeys one-byte commands on a
 * pipe (exit with a code, crash, ignore SIGTERM). Each case asserts the exact sequence of public
 * (State, StateReason) pairs the instance went through. Timers that would take seconds (stop
 * escalation, boot timeout, restart back-off) are fired early by moving the instance's one timer
 * to now: what is tested is which timer each sub-state arms and what its expiry does. */
#undef NDEBUG
#include <assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "common/fs-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/time-util.h"
#include "daemon/backend.h"
#include "daemon/instance.h"
#include "daemon/manager.h"
#include "tests/unit/fake-vmm.h"

#define STEP_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define SEQ_MAX 64

static Manager *manager;

/* What the instance went through. */
static char seq[SEQ_MAX][48];
static size_t n_seq;

static void observe(Instance *i, void *userdata) {
        char s[48];

        (void) snprintf(s,
                        sizeof(s),
                        "%s/%s",
                        instance_state_to_string(i->state),
                        instance_reason_to_string(i->reason));
        if (n_seq > 0 && streq(seq[n_seq - 1], s))
                return; /* Booted and the like change without a transition */
        assert(n_seq < SEQ_MAX);
        (void) snprintf(seq[n_seq++], sizeof(seq[0]), "%s", s);
}

static void seq_reset(void) {
        n_seq = 0;
}

/* The sequence since the last reset must be exactly the NULL-terminated list. */
static void seq_expect(const char *first, ...) {
        const char *want[SEQ_MAX];
        size_t n = 0;
        bool same;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                want[n++] = s;
        va_end(ap);
        same = n == n_seq;
        for (size_t k = 0; same && k < n; k++)
                same = streq(want[k], seq[k]);
        if (same)
                return;
        fprintf(stderr, "expected:");
        for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %s", want[k]);
        fprintf(stderr, "\n     got:");
        for (size_t k = 0; k < n_seq; k++)
                fprintf(stderr, " %s", seq[k]);
        fprintf(stderr, "\n");
        abort();
}

/* Driving the loop */

static void run_until(bool (*done)(Instance *i), Instance *i) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + STEP_TIMEOUT_USEC;

        while (!done(i)) {
                assert(now_usec(CLOCK_MONOTONIC) < deadline);
                assert(sd_event_run(manager->event, 100 * USEC_PER_MSEC) >= 0);
        }
}

static InstanceSubState want_sub;
static bool in_want_sub(Instance *i) {
        return i->sub == want_sub;
}
static void run_until_sub(Instance *i, InstanceSubState s) {
        want_sub = s;
        run_until(in_want_sub, i);
}

static bool has_vmm(Instance *i) {
        return instance_is_active(i);
}

static unsigned gone_number;
static bool instance_gone(Instance *i) {
        return !manager_get_instance(manager, gone_number);
}

/* The sub-state's timer fires now instead of in seconds. */
static void fire_timer(Instance *i) {
        assert(i->timer_source);
        assert(sd_event_source_get_enabled(i->timer_source, NULL) > 0);
        assert(sd_event_source_set_time(i->timer_source, now_usec(CLOCK_MONOTONIC)) >= 0);
}

static Instance *new_instance(unsigned number, RestartPolicy restart, const char *marker) {
        InstanceSpec spec;
        Instance *i = NULL;

        instance_spec_init(&spec, BACKEND_QEMU);
        spec.restart = restart;
        spec.stop_timeout_sec = 1;
        if (marker) {
                spec.boot_marker = strdup(marker);
                spec.boot_timeout_sec = 30;
        }
        assert(instance_new(manager, number, getuid(), getgid(), NULL, 0, &spec, &i) >= 0);
        instance_spec_done(&spec);
        i->ops = &fake_vmm_ops;
        assert(manager_add_instance(manager, i) >= 0);
        fake_vmm_reset();
        seq_reset();
        return i;
}

static void start_running(Instance *i) {
        assert(instance_start(i, NULL) >= 0);
        run_until_sub(i, INSTANCE_SUB_RUNNING);
}

static void remove_instance(Instance *i) {
        manager_remove_instance(manager, i);
        fake_vmm_release();
}

/* The cases */

static void test_start_stop_graceful(void) {
        Instance *i = new_instance(1, RESTART_NO, NULL);

        fake.graceful_ok = true;
        start_running(i);
        assert(i->booted); /* no marker: booted when the control channel is up */
        assert(instance_stop(i) == 0);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        assert(fake.stops_graceful == 1 && fake.stops_quit == 0);
        seq_expect("starting/requested",
                   "running/requested",
                   "stopping/requested",
                   "stopped/requested",
                   NULL);
        assert(i->exit_status == 0 && !instance_is_active(i));
        remove_instance(i);
}

static void test_exit(char code, const char *want) {
        Instance *i = new_instance(1, RESTART_NO, NULL);

        start_running(i);
        fake_vmm_send(code);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        seq_expect("starting/requested", "running/requested", want, NULL);
        remove_instance(i);
}

static void test_exit_codes(void) {
        test_exit(0, "stopped/exited");
        test_exit(1, "failed/crashed");
        test_exit('s', "failed/crashed");     /* SIGSEGV */
        test_exit(32, "stopped/guest-reset"); /* the backend's own reading of its exit code */
}

static void test_guest_reports(void) {
        Instance *i = new_instance(1, RESTART_NO, NULL);

        start_running(i);
        instance_notify_guest_panic(i);
        fake_vmm_send(1);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        seq_expect("starting/requested", "running/requested", "failed/guest-panic", NULL);
        remove_instance(i);

        i = new_instance(1, RESTART_NO, NULL);
        start_running(i);
        instance_notify_guest_shutdown(i);
        fake_vmm_send(3);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        seq_expect("starting/requested", "running/requested", "stopped/exited", NULL);
        remove_instance(i);

        i = new_instance(1, RESTART_NO, NULL);
        start_running(i);
        instance_notify_paused(i, true);
        instance_notify_paused(i, false);
        instance_notify_guest_reset(i);
        seq_expect("starting/requested",
                   "running/requested",
                   "suspended/requested",
                   "running/requested",
                   "running/guest-reset",
                   NULL);
        remove_instance(i);
}

static void test_stop_escalation(void) {
        Instance *i = new_instance(1, RESTART_NO, NULL);

        fake.ignore_term = true;
        start_running(i);
        assert(instance_stop(i) == 0);
        assert(i->sub == INSTANCE_SUB_STOP_GRACEFUL && fake.stops_graceful == 1);
        fire_timer(i); /* the stop timeout: quit, and SIGTERM as the backend cannot */
        run_until_sub(i, INSTANCE_SUB_STOP_QUIT);
        assert(fake.stops_quit == 1 && instance_is_active(i));
        fire_timer(i); /* 5 s later: SIGKILL */
        run_until_sub(i, INSTANCE_SUB_STOP_KILL);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        assert(i->exit_status == -SIGKILL);
        seq_expect("starting/requested",
                   "running/requested",
                   "stopping/requested",
                   "stopped/requested",
                   NULL);
        remove_instance(i);
}

static void test_kill_and_restart(void) {
        Instance *i = new_instance(1, RESTART_ALWAYS, NULL);

        start_running(i);
        assert(instance_kill(i, SIGTERM) == 0);
        run_until_sub(i, INSTANCE_SUB_DEAD); /* a signal of the caller's: no policy restart */
        seq_expect("starting/requested", "running/requested", "stopped/killed", NULL);

        seq_reset();
        start_running(i);
        assert(instance_restart(i, NULL) == 0);
        assert(i->sub == INSTANCE_SUB_STOP_QUIT);
        run_until_sub(i, INSTANCE_SUB_RUNNING);
        seq_expect("starting/requested",
                   "running/requested",
                   "stopping/restarting",
                   "starting/requested",
                   "running/requested",
                   NULL);
        assert(i->restart_count == 1);
        remove_instance(i);
}

static void test_restart_policy_and_limit(void) {
        Instance *i = new_instance(1, RESTART_ON_FAILURE, NULL);

        start_running(i);
        for (unsigned k = 0; k < INSTANCE_RESTART_BURST; k++) {
                fake_vmm_send(1);
                run_until_sub(i, INSTANCE_SUB_AUTO_RESTART);
                assert(i->state == INSTANCE_FAILED && i->reason == REASON_CRASHED);
                fire_timer(i); /* the back-off */
                run_until_sub(i, INSTANCE_SUB_RUNNING);
        }
        assert(i->restart_count == INSTANCE_RESTART_BURST);
        fake_vmm_send(1);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        assert(i->state == INSTANCE_FAILED && i->reason == REASON_RESTART_LIMIT);
        assert(n_seq == 2 + INSTANCE_RESTART_BURST * 3 + 2);
        assert(streq(seq[n_seq - 2], "failed/crashed") && streq(seq[n_seq - 1], "failed/restart-limit"));

        /* Stop() during the back-off cancels the restart. */
        seq_reset();
        memset(i->restart_times, 0, sizeof(i->restart_times));
        start_running(i);
        fake_vmm_send(1);
        run_until_sub(i, INSTANCE_SUB_AUTO_RESTART);
        assert(instance_stop(i) == 0);
        seq_expect("starting/requested", "running/requested", "failed/crashed", "stopped/requested", NULL);
        assert(i->sub == INSTANCE_SUB_DEAD && sd_event_source_get_enabled(i->timer_source, NULL) == 0);
        remove_instance(i);
}

static void write_console(Instance *i, const char *text) {
        FILE *f = fopen(i->console_log, "ae");

        assert(f);
        assert(fputs(text, f) >= 0);
        assert(fclose(f) == 0);
}

static void test_boot_marker_and_timeout(void) {
        Instance *i = new_instance(1, RESTART_NO, "BOOT-OK");

        start_running(i);
        assert(!i->booted);
        write_console(i, "noise BOOT-");
        write_console(i, "OK more\n"); /* split across writes */
        run_until(has_vmm, i);
        while (!i->booted)
                assert(sd_event_run(manager->event, STEP_TIMEOUT_USEC) > 0);
        remove_instance(i);

        i = new_instance(1, RESTART_NO, "BOOT-OK");
        start_running(i);
        fire_timer(i); /* the boot timeout: SIGKILL */
        run_until_sub(i, INSTANCE_SUB_DEAD);
        assert(i->exit_status == -SIGKILL);
        seq_expect("starting/requested",
                   "running/requested",
                   "stopping/boot-timeout",
                   "failed/boot-timeout",
                   NULL);
        assert(streq(i->status_text, "boot timeout"));
        remove_instance(i);
}

static void test_spawn_failures(void) {
        _cleanup_free_ char *e = NULL;
        Instance *i = new_instance(1, RESTART_NO, NULL);

        fake.spawn_fails = true;
        assert(instance_start(i, &e) == -ENOENT);
        assert(streq(e, "the fake plan failed"));
        seq_expect("starting/requested", "failed/spawn-failed", NULL);

        seq_reset();
        fake.spawn_fails = false;
        fake.spawn_fails_late = true;
        assert(instance_start(i, NULL) == 0);
        run_until_sub(i, INSTANCE_SUB_DEAD);
        seq_expect("starting/requested", "failed/spawn-failed", NULL);
        assert(strstr(i->status_text, "sandbox step fake"));
        remove_instance(i);
}

static void test_remove_while_stopping(void) {
        Instance *i = new_instance(2, RESTART_ALWAYS, NULL);

        fake.ignore_term = true;
        start_running(i);
        assert(instance_stop(i) == 0);
        assert(i->sub == INSTANCE_SUB_STOP_GRACEFUL);
        assert(instance_remove(i, NULL) == 1);
        assert(instance_is_removing(i) && i->sub == INSTANCE_SUB_STOP_KILL);
        assert(instance_remove(i, NULL) == -EBUSY);
        gone_number = 2;
        run_until(instance_gone, i); /* freed by the GC queue once the VMM is gone */
        seq_expect("starting/requested",
                   "running/requested",
                   "stopping/requested",
                   "stopped/requested",
                   NULL);
        fake_vmm_release();
}

static void test_remove_without_vmm(void) {
        Instance *i = new_instance(3, RESTART_NO, NULL);

        instance_enter_created(i);
        seq_expect("stopped/requested", NULL);
        assert(instance_stop(i) == -ESRCH);
        assert(instance_remove(i, NULL) == 0); /* nothing runs: the caller removes now */
        remove_instance(i);
        assert(!manager_get_instance(manager, 3));
}

static void test_string_tables(void) {
        for (InstanceState s = 0; s < _INSTANCE_STATE_MAX; s++)
                assert(instance_state_from_string(instance_state_to_string(s)) == s);
        for (InstanceReason r = 0; r < _INSTANCE_REASON_MAX; r++)
                assert(instance_reason_from_string(instance_reason_to_string(r)) == r);
        for (InstanceSubState s = 0; s < _INSTANCE_SUB_MAX; s++)
                assert(instance_sub_state_to_string(s));
        assert(instance_state_from_string("bogus") < 0 && instance_reason_from_string(NULL) < 0);
        assert(!instance_state_to_string(_INSTANCE_STATE_MAX));
        assert(instance_sub_state_public(INSTANCE_SUB_AUTO_RESTART, REASON_CRASHED) == INSTANCE_FAILED);
        assert(instance_sub_state_public(INSTANCE_SUB_DEAD, REASON_GUEST_RESET) == INSTANCE_STOPPED);
        assert(instance_sub_state_public(INSTANCE_SUB_REAPING, REASON_CRASHED) == INSTANCE_STOPPING);
}

int main(void) {
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);

        /* The supervisor watches its VMM through a pidfd; valgrind 3.19 does not know pidfd_open(). */
        int pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        if (pidfd < 0 && errno == ENOSYS) {
                printf("test-instance: pidfd_open() is not available here (valgrind?): skipped\n");
                return EXIT_TEST_SKIP;
        }
        safe_close(pidfd);

        manager = test_manager_new("instance");
        manager->instance_observer = observe;

        test_string_tables();
        test_start_stop_graceful();
        test_exit_codes();
        test_guest_reports();
        test_stop_escalation();
        test_kill_and_restart();
        test_restart_policy_and_limit();
        test_boot_marker_and_timeout();
        test_spawn_failures();
        test_remove_while_stopping();
        test_remove_without_vmm();

        test_manager_free(TAKE_PTR(manager));
        printf("test-instance: all transitions as expected\n");
        return 0;
}
