/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The qemu backend: QEMU from $CF_QEMU or PATH, the slot's taps as fds, QMP as control channel
 * (power button, quit, stop/cont, and the guest's SHUTDOWN/RESET/GUEST_PANICKED events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/backend.h"
#include "vmm/kvm.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "daemon/persist.h"
#include "vmm/qemu.h"
#include "common/macro.h"
#include "common/strv.h"
#include "common/socket-util.h"
#include "common/time-util.h"
#include "vmm/vhost.h"

#define QMP_RETRY_USEC (50 * USEC_PER_MSEC)
#define QMP_ATTEMPTS_MAX 200 /* 10 s */

static void on_qmp_event(QmpEvent ev, const char *detail, void *userdata) {
        Instance *i = userdata;

        switch (ev) {
        case QMP_EVENT_READY:
                instance_notify_control_ready(i);
                break;
        case QMP_EVENT_SHUTDOWN:
                if (detail && strstr(detail, "guest"))
                        instance_notify_guest_shutdown(i);
                break;
        case QMP_EVENT_RESET:
                instance_notify_guest_reset(i);
                break;
        case QMP_EVENT_GUEST_PANICKED:
                instance_notify_guest_panic(i);
                break;
        case QMP_EVENT_STOP:
                instance_notify_paused(i, true);
                break;
        case QMP_EVENT_RESUME:
                instance_notify_paused(i, false);
                break;
        case QMP_EVENT_ERROR:
                instance_log(i, LOG_WARNING, "QMP command failed: %s", strempty(detail));
                break;
        case QMP_EVENT_REPLY:
        case QMP_EVENT_NONE:
        case _QMP_EVENT_MAX:
        case _QMP_EVENT_INVALID:
                break;
        }
}

static void qemu_disconnect(Instance *i) {
        i->qmp_source = sd_event_source_disable_unref(i->qmp_source);
        instance_control_stop_waiting(i);
        i->qmp = qmp_free(i->qmp);
}

static int on_qmp_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Instance *i = userdata;
        int r;

        r = qmp_process(i->qmp, on_qmp_event, i);
        if (r < 0) {
                /* QEMU closed it: the process is exiting; the pidfd tells us the rest. */
                qemu_disconnect(i);
                return 0;
        }
        (void) sd_event_source_set_io_events(s, EPOLLIN | (qmp_wants_write(i->qmp) ? EPOLLOUT : 0));
        return 0;
}

static int qemu_connect(Instance *i);

static int on_qmp_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->control.retry_source = sd_event_source_disable_unref(i->control.retry_source);
        (void) qemu_connect(i);
        return 0;
}

static int qemu_connect(Instance *i) {
        pid_t peer = 0;
        int r;

        if (i->qmp || !instance_is_active(i))
                return 0;
        /* The daemon made the listening socket and the VMM listens on it from before its exec:
         * this succeeds at once (a retry is for a VMM an older daemon started, adopted before it
         * made its own socket). */
        r = qmp_connect(i->control_path, i->owner, &i->qmp);
        if (r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN) {
                if (++i->control.attempts > QMP_ATTEMPTS_MAX) {
                        instance_log(i, LOG_WARNING, "QMP socket %s never appeared", i->control_path);
                        return r;
                }
                /* The accuracy is explicit: sd-event's default (250 ms) would make each retry late. */
                return sd_event_add_time_relative(
                                i->manager->event,
                                &i->control.retry_source,
                                CLOCK_MONOTONIC,
                                QMP_RETRY_USEC,
                                USEC_PER_MSEC,
                                on_qmp_retry,
                                i);
        }
        if (r < 0) {
                instance_log(i,
                             LOG_WARNING,
                             "QMP socket %s: %s; the VMM runs without its control channel (stop falls "
                             "back to signals)",
                             i->control_path,
                             strerror(-r));
                return r;
        }
        /* Only our own VMM: the peer is the process that listens, the VMM itself. */
        r = unix_socket_peer_pid(qmp_fd(i->qmp), &peer);
        if (r < 0 || peer != i->pid) {
                instance_log(i,
                             LOG_WARNING,
                             "QMP socket %s is not served by the VMM (pid %i); ignoring it",
                             i->control_path,
                             (int) i->pid);
                i->qmp = qmp_free(i->qmp);
                return -EPERM;
        }
        r = sd_event_add_io(
                        i->manager->event, &i->qmp_source, qmp_fd(i->qmp), EPOLLIN | EPOLLOUT, on_qmp_io, i);
        if (r < 0)
                qemu_disconnect(i);
        return r;
}

static int qmp_command(Instance *i, const char *cmd) {
        int r;

        if (!i->qmp)
                return -ENOTCONN;
        r = qmp_send(i->qmp, cmd);
        if (r < 0)
                return r;
        if (i->qmp_source)
                (void) sd_event_source_set_io_events(i->qmp_source, EPOLLIN | EPOLLOUT);
        return 0;
}

/* ACPI power button first, so the guest can shut down cleanly (a paused guest cannot). */
static int qemu_stop(Instance *i, bool graceful) {
        if (graceful && i->state != INSTANCE_SUSPENDED)
                return qmp_command(i, "system_powerdown");
        return qmp_command(i, "quit");
}

static int qemu_suspend(Instance *i) {
        return qmp_command(i, "stop");
}

static int qemu_resume(Instance *i) {
        return qmp_command(i, "cont");
}

/* vhost devices where the host has them, opened here and handed over: QEMU never gets a bare
 * vhost=on (it aborts without /dev/vhost-net), and the CID is held by our fd. */
static int qemu_plan_vhost(Instance *i, SpawnPlan *p, QemuPlan *plan, char **ret_error) {
        int fd, r;

        for (size_t k = 0; k < INSTANCE_NICS; k++) {
                r = vhost_net_open(NULL, &fd);
                if (r < 0) {
                        if (k == 0)
                                instance_log(i,
                                             r == -ENOENT ? LOG_DEBUG : LOG_WARNING,
                                             "%s: %s; virtio-net runs in userspace",
                                             VHOST_NET_DEVICE,
                                             strerror(-r));
                        break;
                }
                plan->vhost_net_fds[k] = 3 + (int) p->n_fds;
                p->fds[p->n_fds++] = fd;
        }
        r = vhost_vsock_open(NULL, i->vsock_cid, &fd);
        if (r == -EADDRINUSE)
                return instance_vsock_busy(i, ret_error);
        if (r < 0) {
                instance_log(i,
                             r == -ENOENT ? LOG_NOTICE : LOG_WARNING,
                             "%s: %s; the guest runs without vsock",
                             VHOST_VSOCK_DEVICE,
                             strerror(-r));
                return 0;
        }
        plan->vsock_fd = 3 + (int) p->n_fds;
        plan->vsock_cid = i->vsock_cid;
        p->fds[p->n_fds++] = fd;
        return 0;
}

/* An overlay per base image, in the instance's persistent disk directory, made by the child as the
 * owner (qemu-img beside QEMU) when missing. */
static int qemu_plan_overlays(Instance *i, SpawnPlan *p, char **ret_error) {
        _cleanup_free_ char *dir = NULL;
        size_t k = 0;
        int r;

        if (!i->spec.images)
                return 0;
        r = persist_disk_dir(manager_state_dir(i->manager), i->number, i->owner, i->owner_gid, &p->disk_dir);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "cannot make the overlays' directory under %s/instances/%u: %s",
                                manager_state_dir(i->manager),
                                i->number,
                                r == -EPERM ? "something that is not the owner's directory is at disk/"
                                            : strerror(-r));
                return r;
        }
        dir = strdup(p->exe);
        if (!dir || !strrchr(dir, '/'))
                return -ENOMEM;
        *strrchr(dir, '/') = 0;
        if (asprintf(&p->qemu_img, "%s/qemu-img", dir) < 0)
                return -ENOMEM;
        if (access(p->qemu_img, X_OK) < 0) {
                (void) asprintf(ret_error,
                                "%s not found: the overlays of images are made with it. Install qemu-utils "
                                "(Debian, Ubuntu) or qemu-img (Fedora, CentOS)",
                                p->qemu_img);
                return -ENOENT;
        }
        STRV_FOREACH (b, i->spec.images) {
                char *o = NULL;

                if (asprintf(&o, "%s/image-%zu.qcow2", p->disk_dir, k++) < 0)
                        return -ENOMEM;
                r = strv_push(&p->overlays, o);
                if (r >= 0)
                        r = strv_push(&p->overlay_bases, strdup(*b));
                if (r < 0 || strv_length(p->overlay_bases) != k)
                        return -ENOMEM;
        }
        return 0;
}

static int qemu_plan(Instance *i, SpawnPlan *p, char **ret_error) {
        _cleanup_(strv_freep) char **argv = NULL;
        QemuPlan plan;
        bool kvm;
        int r;

        r = qemu_find(&p->exe);
        if (r < 0) {
                (void) asprintf(ret_error,
                                "qemu-system not found: install the qemu-system-x86 package "
                                "(or set CF_QEMU)");
                return r;
        }

        r = instance_open_taps(i, p->fds, ret_error);
        if (r < 0)
                return r;
        p->n_fds = INSTANCE_NICS;

        kvm = manager_kvm_probe(i->manager, p->exe) > 0;
        if (kvm && !kvm_device_accessible(i->owner, i->owner_gid, i->groups, i->n_groups)) {
                instance_log(i,
                             LOG_NOTICE,
                             "uid %u may not open /dev/kvm (add it to the device's group, usually kvm); the guest "
                             "runs under TCG, much slower",
                             (unsigned) i->owner);
                kvm = false;
        }
        plan = (QemuPlan){
                .qemu = p->exe,
                .kvm = kvm,
                .n_nics = INSTANCE_NICS,
                .macs = { i->macs[0], i->macs[1], i->macs[2] },
        };
        r = qemu_plan_vhost(i, p, &plan, ret_error);
        if (r < 0)
                return r;
        r = instance_plan_control_socket(i, p, SOCK_STREAM, ret_error);
        if (r < 0)
                return r;
        plan.qmp_fd = p->listen_fd;
        r = qemu_plan_overlays(i, p, ret_error);
        if (r < 0) {
                if (!*ret_error)
                        (void) asprintf(ret_error, "cannot plan the overlays: %s", strerror(-r));
                return r;
        }
        plan.overlays = (const char *const *) p->overlays;
        r = qemu_build_argv(&i->spec, &plan, &argv);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot build the QEMU command line: %s", strerror(-r));
                return r;
        }
        p->argv = TAKE_PTR(argv);
        p->new_netns = true;
        p->seccomp = true;
        p->memory_overhead_mb = 512;
        p->tasks_max = 512;
        p->note = plan.kvm ? "KVM" : "TCG";
        return 0;
}

static int qemu_control_path(Instance *i, char **ret) {
        return asprintf(ret, "%s/qmp.sock", i->runtime_dir) < 0 ? -ENOMEM : 0;
}

const BackendOps backend_qemu_ops = {
        .backend = BACKEND_QEMU,
        .control_path = qemu_control_path,
        .plan = qemu_plan,
        .connect = qemu_connect,
        .disconnect = qemu_disconnect,
        .stop = qemu_stop,
        .suspend = qemu_suspend,
        .resume = qemu_resume,
};
