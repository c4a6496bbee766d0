/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What test-instance and test-manager-bus share: a real Manager in a directory of its own under
 * /var/tmp, and a fake VMM. The "VMM" is a forked child of the test that obeys one-byte commands
 * on a pipe: a byte outside 'a'..'z' is its exit code, 's' makes it crash (SIGSEGV). It is started
 * by the spawn hook (instance_spawn_hook) and driven by a fake backend (fake_vmm_ops). */

#include <stdbool.h>

#include "daemon/backend.h"
#include "daemon/manager.h"

typedef struct FakeVmm {
        int cmd_fd;            /* to the current child */
        bool ignore_term;      /* the child ignores SIGTERM */
        bool spawn_fails;      /* the hook fails before forking */
        bool spawn_fails_late; /* the child "fails its sandbox": reported asynchronously */
        bool graceful_ok;      /* the guest powers off on the power button */
        unsigned stops_graceful, stops_quit;
} FakeVmm;

extern FakeVmm fake;
/* connect: control channel up at once; stop: graceful counted (and obeyed if graceful_ok), quit
 * refused (the supervisor falls back to SIGTERM); exit status 32 means a guest reset. */
extern const BackendOps fake_vmm_ops;

/* The options back to their defaults (the command pipe stays). */
void fake_vmm_reset(void);
void fake_vmm_send(char c);
/* Closes the pipe: a child still running exits 0. */
void fake_vmm_release(void);

/* A Manager from manager_new() (no I/O), without transient scopes, with the spawn hook in place,
 * SIGCHLD blocked; its directory is removed by test_manager_free(), or when an assertion fails
 * (SIGABRT) or the suite's timeout ends the test (SIGTERM). name: for the directory. */
Manager *test_manager_new(const char *name);
void test_manager_free(Manager *m);
