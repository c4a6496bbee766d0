/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* launch_cvd's command line, environment and monitor socket path for several option sets. Flag
 * names are those google/android-cuttlefish defines (base/cvd/cuttlefish/host/commands/start/
 * start_flags.cpp: base_instance_num, num_instances, report_anonymous_usage_stats; assemble_cvd/
 * flags/: daemon.cc, system_image_dir.cc, cpus.cc, memory_mb.cc, gpu_mode.cc, vm_manager.cc);
 * the socket path is assemble_cvd/flags.cc InstancesUdsDir() + cvd/instances/local_instance.cpp
 * GetLauncherMonitor(). */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "vmm/cvd.h"
#include "common/macro.h"
#include "common/strv.h"

#define S(x) ((char *) (x))
#define LAUNCH "/home/u/cf/bin/launch_cvd"

static const char *const documented[] = {
        "daemon",           "base_instance_num",
        "num_instances",    "report_anonymous_usage_stats",
        "system_image_dir", "cpus",
        "memory_mb",        "gpu_mode",
        "vm_manager",       NULL,
};

static void assert_strv(char **got, const char *const *expected) {
        size_t i;

        for (i = 0; got[i] && expected[i]; i++)
                if (!streq(got[i], expected[i]))
                        break;
        if (got[i] || expected[i]) {
                fprintf(stderr,
                        "differs at [%zu]: expected \"%s\", got \"%s\"\n",
                        i,
                        strempty(expected[i]),
                        strempty(got[i]));
                assert(false);
        }
}

static void assert_documented(char **argv, size_t n_extra) {
        size_t n = strv_length(argv);

        for (size_t i = 1; i + n_extra < n; i++) {
                const char *name = argv[i] + 2, *eq = strchr(name, '=');
                bool found = false;

                assert(strncmp(argv[i], "--", 2) == 0 && eq); /* gflags: --name=value */
                for (const char *const *d = documented; *d; d++)
                        found = found ||
                                        (strlen(*d) == (size_t) (eq - name) &&
                                         strncmp(*d, name, eq - name) == 0);
                assert(found);
        }
}

static void test_minimal(void) {
        _cleanup_(strv_freep) char **argv = NULL, **env = NULL;
        CvdPlan plan = {
                .launch_cvd = LAUNCH,
                .instance = 3,
                .home = "/run/cfhr/instances/3/home",
                .tmpdir = "/run/cfhr/instances/3/tmp",
        };
        InstanceSpec spec;
        /* clang-format off */
        static const char *const expected[] = {
                LAUNCH, "--daemon=false", "--base_instance_num=3", "--num_instances=1",
                "--report_anonymous_usage_stats=n", "--system_image_dir=/home/u/images",
                "--cpus=2", "--memory_mb=1024", NULL
        };
        static const char *const expected_env[] = {
                "HOME=/run/cfhr/instances/3/home", "TMPDIR=/run/cfhr/instances/3/tmp",
                "ANDROID_PRODUCT_OUT=/home/u/images",
                "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CVD);
        spec.images_dir = S("/home/u/images");
        assert(cvd_build_argv(&spec, &plan, &argv) == 0);
        assert_strv(argv, expected);
        assert_documented(argv, 0);
        assert(cvd_build_env(&spec, &plan, &env) == 0);
        assert_strv(env, expected_env);
}

static void test_full(void) {
        _cleanup_(strv_freep) char **argv = NULL, **env = NULL;
        char *extra[] = { S("--start_webrtc=true"), NULL };
        CvdPlan plan = {
                .launch_cvd = LAUNCH,
                .instance = 12,
                .home = "/run/cfhr/instances/12/home",
                .tmpdir = "/run/cfhr/instances/12/tmp",
                .host_out = "/home/u/cf",
                .vm_manager = "crosvm",
        };
        InstanceSpec spec;
        /* clang-format off */
        static const char *const expected[] = {
                LAUNCH, "--daemon=false", "--base_instance_num=12", "--num_instances=1",
                "--report_anonymous_usage_stats=n", "--system_image_dir=/home/u/images",
                "--cpus=8", "--memory_mb=8192", "--gpu_mode=guest_swiftshader", "--vm_manager=crosvm",
                "--start_webrtc=true", NULL
        };
        /* clang-format on */

        instance_spec_init(&spec, BACKEND_CVD);
        spec.images_dir = S("/home/u/images");
        spec.cpus = 8;
        spec.memory_mb = 8192;
        spec.gpu_mode = S("guest_swiftshader");
        spec.extra_args = extra;
        assert(cvd_build_argv(&spec, &plan, &argv) == 0);
        assert_strv(argv, expected);
        assert_documented(argv, 1);
        assert(cvd_build_env(&spec, &plan, &env) == 0);
        assert(streq(env[2], "ANDROID_HOST_OUT=/home/u/cf"));
}

static void test_paths(void) {
        _cleanup_free_ char *p = NULL, *exe = NULL;
        CvdPlan plan = { .launch_cvd = LAUNCH, .instance = 1 };
        InstanceSpec spec;
        char **argv = (char **) 0x1;

        assert(cvd_monitor_path("/run/cfhr/instances/7/tmp", 1000, 7, &p) == 0);
        assert(streq(p, "/run/cfhr/instances/7/tmp/cf_avd_1000/cvd-7/launcher_monitor.sock"));
        assert(cvd_monitor_path("tmp", 1000, 7, &exe) == -EINVAL);

        /* The host package's launcher, not looked at here (the child checks it as the caller). */
        assert(cvd_find("/nonexistent/host-package", &exe) == 0);
        assert(streq(exe, "/nonexistent/host-package/bin/launch_cvd"));

        instance_spec_init(&spec, BACKEND_CVD); /* no images_dir */
        assert(cvd_build_argv(&spec, &plan, &argv) == -EINVAL);
        assert(argv == (char **) 0x1);

        assert(streq(cvd_exit_description(23), "a tap device is in use by another process"));
        assert(!cvd_exit_description(0));
        assert(!cvd_exit_description(77));
}

int main(void) {
        test_minimal();
        test_full();
        test_paths();
        printf("cvd argv: OK\n");
        return 0;
}
