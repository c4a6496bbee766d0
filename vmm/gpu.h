/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GPU modes a guest can get on this host, and the choice for one instance. The probes are
 * slow or dangerous (virgl_renderer_init() can SIGSEGV in a host without an EGL vendor,
 * TESTING.md (g)), so the virgl probe runs in a forked child with a time limit; gpu_probe_run()
 * itself is meant to run in the daemon's host-probe worker, never in the event loop. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm/spec.h"

struct json_object;

typedef enum GpuMode {
        GPU_MODE_DRM_VIRGL,         /* virtio-gpu with virglrenderer on the host */
        GPU_MODE_GFXSTREAM,         /* virtio-gpu with gfxstream's host backend */
        GPU_MODE_GUEST_SWIFTSHADER, /* software rendering inside the guest: always possible */
        GPU_MODE_NONE,              /* no GPU device: always possible */
        _GPU_MODE_MAX,
        _GPU_MODE_INVALID = -EINVAL,
} GpuMode;

#define GPU_PROBE_TIMEOUT_MSEC 5000
#define GPU_REASON_MAX 256

typedef struct GpuModeStatus {
        bool available;
        char reason[GPU_REASON_MAX]; /* why (not): always set */
} GpuModeStatus;

typedef struct GpuProbe {
        GpuModeStatus modes[_GPU_MODE_MAX];
} GpuProbe;

const char *gpu_mode_to_string(GpuMode m);
/* "auto" is a request, not a mode: _GPU_MODE_INVALID. */
GpuMode gpu_mode_from_string(const char *s);

/* Initialises virglrenderer (EGL | SURFACELESS, as a headless VMM would) in a forked child and
 * reports through a pipe. 1: it works; 0: it does not, why in reason ("probe crashed
 * (SIGSEGV)", "probe timed out after 5 s", "built without virglrenderer", ...); <0: could not
 * probe (fork, pipe). test_env: NULL, or "NAME=VALUE" strings put into the child's environment
 * only; a hook for tests that make the probe fail (e.g.
 * __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent.json makes it crash). */
int gpu_probe_virgl(char *const *test_env, int timeout_msec, char *reason, size_t reason_size);
/* 1 if gfxstream's host library (libgfxstream_backend.so) is installed, in the system library
 * directories or a Cuttlefish host package's lib64; 0 if not. No dlopen(). */
int gpu_probe_gfxstream(char *reason, size_t reason_size);
/* Every mode, each with its reason. Blocks for up to GPU_PROBE_TIMEOUT_MSEC. */
int gpu_probe_run(GpuProbe *ret);

/* [{"mode": "drm_virgl", "available": true, "reason": "..."}, ...] in GpuMode order. */
struct json_object *gpu_probe_to_json(const GpuProbe *p);
/* The inverse; modes missing from the array are unavailable ("not probed"). */
int gpu_probe_from_json(struct json_object *a, GpuProbe *ret);

/* The mode an instance gets. requested: NULL or "auto" (let the host decide), or a mode name.
 * "auto" is, for the qemu backend, "none" (it has no display device); for crosvm and cvd the
 * first available of gfxstream, drm_virgl, guest_swiftshader. probe NULL means "not probed": only
 * guest_swiftshader and none are then known to work. An explicit mode the probe found unavailable
 * is -EOPNOTSUPP, with *ret_error naming what is missing and how to fix it; an unknown name is
 * -EINVAL. On success *ret_mode is the mode's name (newly allocated). */
int gpu_mode_resolve(
                const char *requested,
                Backend backend,
                const GpuProbe *probe,
                char **ret_mode,
                char **ret_error);
