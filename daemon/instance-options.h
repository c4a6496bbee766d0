/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "vmm/spec.h"

/* Reads CreateInstance's a{sv} from m into ret. Every key is checked for a known name, the
 * right type, its range, and absolute paths; the first problem is an InvalidOption error that
 * names the key and what to do. Nothing is opened: paths are only checked for shape, and those
 * the VMM opens itself (kernel, initrd, bios, host_package, images_dir) for not lying in a
 * directory its sandbox hides (instance_path_hidden_dir()). */
int instance_spec_from_message(
                sd_bus_message *m, Backend default_backend, InstanceSpec *ret, sd_bus_error *error);

/* The directory the VMM cannot see that path lies in: "/tmp" or "/dev/shm" (its sandbox gets a
 * fresh, empty tmpfs on each), or NULL. Purely lexical, nothing is opened or resolved (the
 * daemon never looks at a caller's path with root's rights): "//tmp/x", "/tmp/./x",
 * "/var/../tmp/x" and "/tmp" itself all count; "/var/tmp/x" and "/tmpfoo" do not. ret_itself
 * (may be NULL): whether path is that directory itself rather than something below it. A
 * relative path gives NULL. */
const char *instance_path_hidden_dir(const char *path, bool *ret_itself);

/* A warning about a valid spec that likely does not do what the caller wants, for the
 * instance's status text: the qemu backend with a boot_marker and a cmdline that has no
 * console= word (the marker is read from the serial console, so such a guest probably never
 * shows it there). Returns 1 and the text in *ret (free() it), or 0 and *ret = NULL when there
 * is nothing to warn about; -ENOMEM (or -EINVAL for NULL arguments) leaves *ret untouched. */
int instance_spec_warning(const InstanceSpec *spec, char **ret);
