/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The crosvm backend's command lines. Pure string work: no I/O except crosvm_find()'s lookups.
 *
 * The layout, flag by flag, with where its syntax is documented (crosvm src/crosvm/cmdline.rs,
 * struct RunCommand, unless said otherwise):
 *   crosvm --extended-status --no-syslog run     global flags (struct CrosvmCmdlineArgs): the VM's
 *                                                fate as exit code 32-36; logs to stderr
 *   --socket=/proc/self/fd/N                     control socket: a SOCK_SEQPACKET socket the daemon
 *                                                bound (at the path "crosvm stop|suspend|resume"
 *                                                take) and handed over listening; crosvm takes
 *                                                such an fd as it is (base/src/sys/unix/net.rs
 *                                                UnixSeqpacketListener::bind, since 2022-10)
 *   --mem=MB --cpus=N [topology args]            as Cuttlefish's crosvm_builder AddCpus
 *   [--disable-sandbox]                          only when the caller asked
 *   --block=path=DISK                            read-write disk (crosvm_builder AddReadWriteDisk)
 *   --net=tap-fd=N,mac=MAC[,vhost-net]           one per slot tap, fds 3, 4, 5
 *   --vsock=cid=C | --cid=C --vhost-vsock-fd=N   vsock; the fd form needs the legacy --cid
 *   --serial=hardware=serial,num=1,type=stdout,console=true,earlycon=true
 *   --serial=hardware=virtio-console,num=1,type=stdout   hvc0 (console=hvc0 guests), same log
 *   [--gpu=...]                                  from spec.gpu_mode (crosvm_manager ConfigureGpu)
 *   [--initrd=PATH] [--params=CMDLINE]
 *   [extra_args...] [KERNEL]                     KERNEL is RunCommand's positional argument
 *   [--bios=PATH]                                last, as crosvm_manager.cpp does */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/argv.h"
#include "vmm/crosvm.h"
#include "common/macro.h"
#include "common/strv.h"

#define CROSVM_NICS_MAX ELEMENTSOF(((CrosvmPlan *) NULL)->macs)

/* Inside a key=value list crosvm splits on ',' and brackets: such a path cannot be written. */
static bool kv_path_ok(const char *p) {
        return argv_path_ok(p) && !strpbrk(p, ",[]=\"");
}

/* Cuttlefish's strings for its gpu modes, without the display list and PCI address it adds
 * (crosvm_manager.cpp ConfigureGpu; keys in cmdline.rs "--gpu"). */
const char *crosvm_gpu_arg(const char *gpu_mode) {
        if (!gpu_mode)
                return NULL;
        if (streq(gpu_mode, "guest_swiftshader"))
                return "backend=2D";
        if (streq(gpu_mode, "drm_virgl"))
                return "backend=virglrenderer,context-types=virgl2,egl=true,surfaceless=true,glx=false,gles=true";
        if (streq(gpu_mode, "gfxstream"))
                return "context-types=gfxstream-gles:gfxstream-vulkan:gfxstream-composer,egl=true,surfaceless=true,"
                       "glx=false,gles=true";
        return NULL; /* "none", or "auto" nobody resolved */
}

int crosvm_build_argv(const InstanceSpec *spec, const CrosvmPlan *plan, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        const char *gpu;
        int r;

        if (!spec || !plan || !ret)
                return -EINVAL;
        if (!plan->crosvm || !plan->crosvm[0] || plan->socket_fd < 3)
                return -EINVAL;
        r = argv_check_vm(spec, plan->n_nics, CROSVM_NICS_MAX, plan->macs);
        if (r < 0)
                return r;
        if (plan->vhost_vsock_fd > 0 && plan->vsock_cid < 3)
                return -EINVAL;
        STRV_FOREACH (d, spec->disks)
                if (!kv_path_ok(*d))
                        return -EINVAL;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        r = argv_add_many(&l, plan->crosvm, "--extended-status", "--no-syslog", "run", NULL);
        if (r >= 0)
                r = argv_addf(&l, "--socket=/proc/self/fd/%i", plan->socket_fd);
        if (r >= 0)
                r = argv_addf(&l, "--mem=%u", spec->memory_mb);
        if (r >= 0)
                r = argv_addf(&l, "--cpus=%u", spec->cpus);
        if (r < 0)
                return r;

        /* --cpu-cluster / --cpu-capacity from the host's topology, when the caller has them. */
        for (const char *const *a = plan->cpu_args; a && *a; a++) {
                r = argv_add(&l, *a);
                if (r < 0)
                        return r;
        }

        if (spec->crosvm_disable_sandbox) {
                r = argv_add(&l, "--disable-sandbox");
                if (r < 0)
                        return r;
        }

        STRV_FOREACH (d, spec->disks) {
                r = argv_addf(&l, "--block=path=%s", *d);
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < plan->n_nics; i++) {
                r = argv_addf(&l,
                              "--net=tap-fd=%u,mac=%s%s",
                              3 + i,
                              plan->macs[i],
                              plan->vhost_net ? ",vhost-net" : "");
                if (r < 0)
                        return r;
        }

        /* crosvm reads --vhost-vsock-fd only together with the legacy --cid (cmdline.rs, "Legacy
         * vsock options"), and reopens the fd through /proc/self/fd, claiming the CID itself. */
        if (plan->vhost_vsock_fd > 0) {
                r = argv_addf(&l, "--cid=%u", plan->vsock_cid);
                if (r >= 0)
                        r = argv_addf(&l, "--vhost-vsock-fd=%i", plan->vhost_vsock_fd);
        } else if (plan->vsock_cid > 0)
                r = argv_addf(&l, "--vsock=cid=%u", plan->vsock_cid);
        if (r < 0)
                return r;

        /* The serial port and hvc0 both write to stdout, which the daemon points at the console log. */
        r = argv_add_many(
                        &l,
                        "--serial=hardware=serial,num=1,type=stdout,console=true,earlycon=true",
                        "--serial=hardware=virtio-console,num=1,type=stdout",
                        NULL);
        if (r < 0)
                return r;

        gpu = crosvm_gpu_arg(spec->gpu_mode);
        if (gpu) {
                r = argv_addf(&l, "--gpu=%s", gpu);
                if (r < 0)
                        return r;
        }

        if (spec->initrd) {
                r = argv_addf(&l, "--initrd=%s", spec->initrd);
                if (r < 0)
                        return r;
        }
        if (spec->cmdline) {
                r = argv_addf(&l, "--params=%s", spec->cmdline);
                if (r < 0)
                        return r;
        }

        STRV_FOREACH (a, spec->extra_args) {
                r = argv_add(&l, *a);
                if (r < 0)
                        return r;
        }

        if (spec->kernel) {
                r = argv_add(&l, spec->kernel);
                if (r < 0)
                        return r;
        }

        /* Last, as Cuttlefish does ("This needs to be the last parameter"). */
        if (spec->bios) {
                r = argv_addf(&l, "--bios=%s", spec->bios);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

int crosvm_control_argv(const char *crosvm, const char *command, const char *socket_path, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        if (!crosvm || !command || !argv_path_ok(socket_path) || !ret)
                return -EINVAL;
        if (!streq(command, "stop") && !streq(command, "suspend") && !streq(command, "resume"))
                return -EINVAL;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        r = argv_add_many(&l, crosvm, "--no-syslog", command, socket_path, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

int crosvm_find(char **ret) {
        return find_program("CF_CROSVM", "crosvm", ret);
}
