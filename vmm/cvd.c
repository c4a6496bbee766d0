/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* launch_cvd's command line, environment and monitor socket. String work, plus the monitor client
 * that runs in a child as the instance's owner.
 *
 * The command line (flag definitions: start/start_flags.cpp, the files in assemble_cvd/flags/):
 *   launch_cvd --daemon=false                    stay in the foreground: its exit is the device's
 *              --base_instance_num=N --num_instances=1
 *                                                slot N: taps cvd-{e,w,m}tap-NN, CID N+2, adb 6520+N-1
 *              --report_anonymous_usage_stats=n  never prompt
 *              --system_image_dir=DIR            the caller's images_dir
 *              --cpus=C --memory_mb=M
 *              [--gpu_mode=MODE] [--vm_manager=crosvm|qemu_cli]
 *              [extra_args...] */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/argv.h"
#include "vmm/cvd.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"

int cvd_build_argv(const InstanceSpec *spec, const CvdPlan *plan, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        if (!spec || !plan || !ret || !plan->launch_cvd || !plan->launch_cvd[0])
                return -EINVAL;
        if (plan->instance < 1 || spec->cpus == 0 || spec->memory_mb == 0)
                return -EINVAL;
        if (!argv_path_ok(spec->images_dir))
                return -EINVAL;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        r = argv_add_many(&l, plan->launch_cvd, "--daemon=false", NULL);
        if (r >= 0)
                r = argv_addf(&l, "--base_instance_num=%u", plan->instance);
        if (r >= 0)
                r = argv_add_many(&l, "--num_instances=1", "--report_anonymous_usage_stats=n", NULL);
        if (r >= 0)
                r = argv_addf(&l, "--system_image_dir=%s", spec->images_dir);
        if (r >= 0)
                r = argv_addf(&l, "--cpus=%u", spec->cpus);
        if (r >= 0)
                r = argv_addf(&l, "--memory_mb=%u", spec->memory_mb);
        if (r >= 0 && spec->gpu_mode)
                r = argv_addf(&l, "--gpu_mode=%s", spec->gpu_mode);
        if (r >= 0 && plan->vm_manager)
                r = argv_addf(&l, "--vm_manager=%s", plan->vm_manager);
        if (r < 0)
                return r;
        STRV_FOREACH (a, spec->extra_args) {
                r = argv_add(&l, *a);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int cvd_build_env(const InstanceSpec *spec, const CvdPlan *plan, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        if (!spec || !plan || !ret || !argv_path_ok(plan->home) || !argv_path_ok(plan->tmpdir))
                return -EINVAL;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        r = argv_addf(&l, "HOME=%s", plan->home);
        if (r >= 0)
                r = argv_addf(&l, "TMPDIR=%s", plan->tmpdir);
        if (r >= 0 && plan->host_out)
                r = argv_addf(&l, "ANDROID_HOST_OUT=%s", plan->host_out);
        if (r >= 0 && spec->images_dir)
                r = argv_addf(&l, "ANDROID_PRODUCT_OUT=%s", spec->images_dir);
        if (r >= 0)
                r = argv_add(&l, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int cvd_monitor_path(const char *tmpdir, uid_t uid, unsigned instance, char **ret) {
        if (!argv_path_ok(tmpdir) || !ret)
                return -EINVAL;
        if (asprintf(ret, "%s/cf_avd_%u/cvd-%u/launcher_monitor.sock", tmpdir, (unsigned) uid, instance) < 0)
                return -ENOMEM;
        return 0;
}

int cvd_find(const char *host_package, char **ret) {
        if (!ret)
                return -EINVAL;
        if (host_package) {
                char *p = path_join(host_package, "bin/launch_cvd");
                if (!p)
                        return -ENOMEM;
                *ret = p;
                return 0;
        }
        return find_program("CF_LAUNCH_CVD", "launch_cvd", ret);
}

const char *cvd_exit_description(int status) {
        switch (status) {
        case 1:
                return "launch_cvd rejected its arguments";
        case 2:
                return "launch_cvd found the host misconfigured (kvm, groups, kernel)";
        case 9:
                return "launch_cvd could not create the VM";
        case 11:
                return "the virtual device failed to boot";
        case 23:
                return "a tap device is in use by another process";
        default:
                return NULL;
        }
}

int cvd_monitor_request(const char *path, char action, int timeout_msec, char *ret_reply) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct pollfd p;
        char reply;
        ssize_t n;
        int r;

        if (!path || strlen(path) >= sizeof(sa.sun_path) || !ret_reply)
                return -EINVAL;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* A connect to a listening unix socket completes at once; no need to bound it. */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (write(fd, &action, 1) != 1)
                return errno > 0 ? -errno : -EIO;
        p = (struct pollfd){ .fd = fd, .events = POLLIN };
        r = poll(&p, 1, timeout_msec);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        n = read(fd, &reply, 1);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ECONNRESET;
        *ret_reply = reply;
        return 0;
}
