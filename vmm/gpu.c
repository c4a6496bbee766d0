/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>

#include "build-config.h"

#if HAVE_VIRGLRENDERER
#include <virgl/virglrenderer.h>
#endif

#include "vmm/gpu.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/process-util.h"
#include "common/string-table.h"

static const char *const gpu_mode_table[_GPU_MODE_MAX] = {
        [GPU_MODE_DRM_VIRGL] = "drm_virgl",
        [GPU_MODE_GFXSTREAM] = "gfxstream",
        [GPU_MODE_GUEST_SWIFTSHADER] = "guest_swiftshader",
        [GPU_MODE_NONE] = "none",
};

DEFINE_STRING_TABLE_LOOKUP(gpu_mode, GpuMode);

#if HAVE_VIRGLRENDERER
#define VIRGLRENDERER_SONAME "libvirglrenderer.so.1"
#define VIRGL_NOT_INSTALLED (-100000)

static void virgl_write_fence(void *cookie, uint32_t fence) {
}

/* The child: one line on fd, then _exit. A crash leaves the line unwritten. */
_noreturn_ static void virgl_probe_child(int fd, char *const *test_env) {
        struct virgl_renderer_callbacks cb = { .version = 1, .write_fence = virgl_write_fence };
        int (*init)(void *cookie, int flags, struct virgl_renderer_callbacks *cb);
        void (*get_cap_set)(uint32_t set, uint32_t * max_ver, uint32_t * max_size);
        uint32_t max_ver = 0, max_size = 0;
        void *lib;
        int r;

        for (size_t i = 0; test_env && test_env[i]; i++)
                (void) putenv(test_env[i]);

        /* Loaded here, in the child, never linked into the daemon: it pulls in Mesa, X11,
         * Wayland, Vulkan and VA-API, megabytes of resident libraries and attack surface a
         * privileged service has no use for. */
        lib = dlopen(VIRGLRENDERER_SONAME, RTLD_NOW | RTLD_LOCAL);
        init = lib ? (typeof(init)) dlsym(lib, "virgl_renderer_init") : NULL;
        get_cap_set = lib ? (typeof(get_cap_set)) dlsym(lib, "virgl_renderer_get_cap_set") : NULL;
        if (!init || !get_cap_set) {
                (void) dprintf(fd, "%i 0\n", VIRGL_NOT_INSTALLED);
                _exit(0);
        }
        r = init(NULL, VIRGL_RENDERER_USE_EGL | VIRGL_RENDERER_USE_SURFACELESS, &cb);
        if (r == 0)
                get_cap_set(2 /* VIRGL_RENDERER_CAPSET_VIRGL2 */, &max_ver, &max_size);
        (void) dprintf(fd, "%i %u\n", r, max_ver);
        _exit(0);
}
#endif

int gpu_probe_virgl(char *const *test_env, int timeout_msec, char *reason, size_t reason_size) {
#if HAVE_VIRGLRENDERER
        char buf[64] = {};
        size_t n = 0;
        ssize_t k;
        int fds[2], status = 0, r = 0, init_r = 0;
        unsigned max_ver = 0;
        bool timed_out = false;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        /* A crash must end the child by its signal, so the parent can name it, even where a
         * sanitizer runtime has installed handlers of its own: default dispositions. virglrenderer
         * and Mesa talk on stderr ("gl_version 45 - core profile enabled"): /dev/null. */
        r = safe_fork("virgl probe", FORK_DEATHSIG_SIGKILL | FORK_RESET_SIGNALS | FORK_NULL_STDIO, &pid);
        if (r < 0) {
                safe_close(fds[0]);
                safe_close(fds[1]);
                return r;
        }
        if (r == 0) {
                safe_close(fds[0]);
                virgl_probe_child(fds[1], test_env);
        }
        safe_close(fds[1]);

        /* Read until EOF (the child is gone) or the deadline. */
        k = read_bounded(fds[0], buf, sizeof(buf), timeout_msec, false);
        timed_out = k == -ETIMEDOUT;
        n = k > 0 ? (size_t) k : strlen(buf);
        safe_close(fds[0]);
        if (timed_out)
                (void) kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);

        /* The line counts whatever the exit status (a leak checker may change that). */
        if (n > 0 && strchr(buf, '\n') && sscanf(buf, "%i %u", &init_r, &max_ver) == 2) {
                if (init_r == VIRGL_NOT_INSTALLED) {
                        (void) snprintf(reason, reason_size, "%s is not installed", VIRGLRENDERER_SONAME);
                        return 0;
                }
                if (init_r == 0) {
                        (void) snprintf(reason,
                                        reason_size,
                                        "virglrenderer %s works with EGL surfaceless (virgl2 capset "
                                        "version %u)%s",
                                        VIRGLRENDERER_VERSION,
                                        max_ver,
                                        access("/dev/dri", F_OK) < 0
                                                        ? "; no /dev/dri: software rendering (llvmpipe)"
                                                        : "");
                        return 1;
                }
                (void) snprintf(reason,
                                reason_size,
                                "virgl_renderer_init() with EGL surfaceless failed (%i): no usable EGL "
                                "driver",
                                init_r);
                return 0;
        }
        if (timed_out)
                (void) snprintf(reason, reason_size, "probe timed out after %i ms", timeout_msec);
        else if (WIFSIGNALED(status))
                (void) snprintf(reason,
                                reason_size,
                                "probe crashed (SIG%s)",
                                sigabbrev_np(WTERMSIG(status)) ?: "?");
        else
                (void) snprintf(reason,
                                reason_size,
                                "probe exited with status %i without an answer",
                                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
#else
        (void) snprintf(reason, reason_size, "built without virglrenderer");
        return 0;
#endif
}

int gpu_probe_gfxstream(char *reason, size_t reason_size) {
        /* System library directories (multiarch included) and the Cuttlefish host package's. */
        static const char *const patterns[] = {
                "/usr/lib/*-linux-gnu*/libgfxstream_backend.so*",
                "/usr/lib64/libgfxstream_backend.so*",
                "/usr/lib/libgfxstream_backend.so*",
                "/usr/local/lib/libgfxstream_backend.so*",
                "/usr/local/lib64/libgfxstream_backend.so*",
                "/usr/lib/cuttlefish-common/lib64/libgfxstream_backend.so*",
        };

        for (size_t i = 0; i < ELEMENTSOF(patterns); i++) {
                glob_t g = {};

                if (glob(patterns[i], GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0) {
                        (void) snprintf(reason, reason_size, "gfxstream backend: %s", g.gl_pathv[0]);
                        globfree(&g);
                        return 1;
                }
                globfree(&g);
        }
        (void) snprintf(reason,
                        reason_size,
                        "libgfxstream_backend.so not found (in the system library directories or "
                        "/usr/lib/cuttlefish-common/lib64)");
        return 0;
}

int gpu_probe_run(GpuProbe *ret) {
        GpuProbe p = {};
        int r;

        r =
                        gpu_probe_virgl(NULL,
                                        GPU_PROBE_TIMEOUT_MSEC,
                                        p.modes[GPU_MODE_DRM_VIRGL].reason,
                                        sizeof(p.modes[GPU_MODE_DRM_VIRGL].reason));
        if (r < 0)
                (void) snprintf(p.modes[GPU_MODE_DRM_VIRGL].reason,
                                sizeof(p.modes[GPU_MODE_DRM_VIRGL].reason),
                                "could not run the probe: %s",
                                strerror(-r));
        p.modes[GPU_MODE_DRM_VIRGL].available = r > 0;

        p.modes[GPU_MODE_GFXSTREAM].available =
                        gpu_probe_gfxstream(
                                        p.modes[GPU_MODE_GFXSTREAM].reason,
                                        sizeof(p.modes[GPU_MODE_GFXSTREAM].reason)) > 0;

        p.modes[GPU_MODE_GUEST_SWIFTSHADER].available = true;
        (void) snprintf(p.modes[GPU_MODE_GUEST_SWIFTSHADER].reason,
                        sizeof(p.modes[GPU_MODE_GUEST_SWIFTSHADER].reason),
                        "software rendering inside the guest: needs nothing on the host");
        p.modes[GPU_MODE_NONE].available = true;
        (void) snprintf(p.modes[GPU_MODE_NONE].reason,
                        sizeof(p.modes[GPU_MODE_NONE].reason),
                        "no GPU device");
        *ret = p;
        return 0;
}

struct json_object *gpu_probe_to_json(const GpuProbe *p) {
        struct json_object *a = json_object_new_array();

        for (GpuMode m = 0; m < _GPU_MODE_MAX; m++) {
                struct json_object *o = json_object_new_object();

                json_object_object_add(o, "mode", json_object_new_string(gpu_mode_to_string(m)));
                json_object_object_add(o, "available", json_object_new_boolean(p->modes[m].available));
                json_object_object_add(o, "reason", json_object_new_string(p->modes[m].reason));
                json_object_array_add(a, o);
        }
        return a;
}

int gpu_probe_from_json(struct json_object *a, GpuProbe *ret) {
        GpuProbe p = {};

        if (!json_object_is_type(a, json_type_array))
                return -EINVAL;
        for (GpuMode m = 0; m < _GPU_MODE_MAX; m++)
                (void) snprintf(p.modes[m].reason, sizeof(p.modes[m].reason), "not probed");
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                struct json_object *o = json_object_array_get_idx(a, i), *mode, *avail, *reason;
                GpuMode m;

                if (!json_object_object_get_ex(o, "mode", &mode) ||
                    !json_object_object_get_ex(o, "available", &avail))
                        return -EINVAL;
                m = gpu_mode_from_string(json_object_get_string(mode));
                if (m < 0)
                        continue;
                p.modes[m].available = json_object_get_boolean(avail);
                if (json_object_object_get_ex(o, "reason", &reason) && reason)
                        (void) snprintf(p.modes[m].reason,
                                        sizeof(p.modes[m].reason),
                                        "%s",
                                        json_object_get_string(reason));
        }
        *ret = p;
        return 0;
}

static const char *gpu_mode_fix(GpuMode m) {
        switch (m) {
        case GPU_MODE_DRM_VIRGL:
                return "Install virglrenderer and Mesa's EGL (Debian/Ubuntu: sudo apt-get install libvirglrenderer1 "
                       "libegl1 libegl-mesa0 libgl1-mesa-dri; Fedora/CentOS: sudo dnf install virglrenderer "
                       "mesa-libEGL mesa-dri-drivers), then 'sudo cfctl reload' to probe again";
        case GPU_MODE_GFXSTREAM:
                return "Install a Cuttlefish host package that ships libgfxstream_backend.so, then 'sudo cfctl "
                       "reload' to probe again";
        case GPU_MODE_GUEST_SWIFTSHADER:
        case GPU_MODE_NONE:
        case _GPU_MODE_MAX:
        case _GPU_MODE_INVALID:
                break;
        }
        return "";
}

int gpu_mode_resolve(
                const char *requested,
                Backend backend,
                const GpuProbe *probe,
                char **ret_mode,
                char **ret_error) {
        static const GpuMode auto_order[] = { GPU_MODE_GFXSTREAM,
                                              GPU_MODE_DRM_VIRGL,
                                              GPU_MODE_GUEST_SWIFTSHADER };
        GpuMode m = _GPU_MODE_INVALID;
        char *s;

        if (!requested || streq(requested, "auto")) {
                if (backend == BACKEND_QEMU)
                        m = GPU_MODE_NONE;
                else
                        for (size_t i = 0; i < ELEMENTSOF(auto_order) && m < 0; i++)
                                if (auto_order[i] == GPU_MODE_GUEST_SWIFTSHADER ||
                                    (probe && probe->modes[auto_order[i]].available))
                                        m = auto_order[i];
        } else {
                m = gpu_mode_from_string(requested);
                if (m < 0) {
                        if (ret_error)
                                (void) asprintf(ret_error,
                                                "unknown GPU mode '%s'. Use auto, drm_virgl, gfxstream, "
                                                "guest_swiftshader or none",
                                                requested);
                        return -EINVAL;
                }
                if (m != GPU_MODE_GUEST_SWIFTSHADER && m != GPU_MODE_NONE &&
                    (!probe || !probe->modes[m].available)) {
                        if (ret_error)
                                (void) asprintf(ret_error,
                                                "GPU mode '%s' is not available on this host: %s. %s; or "
                                                "choose gpu_mode 'auto' or 'guest_swiftshader'",
                                                requested,
                                                probe ? probe->modes[m].reason
                                                      : "the host was not probed yet",
                                                gpu_mode_fix(m));
                        return -EOPNOTSUPP;
                }
        }

        s = strdup(gpu_mode_to_string(m));
        if (!s)
                return -ENOMEM;
        *ret_mode = s;
        return 0;
}
