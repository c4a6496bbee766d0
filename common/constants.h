/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host names shared by the daemon and cfctl. */

/* The group that may create instances and owns the pool's taps (DESIGN.md §3). */
#define CF_GROUP "cvdnetwork"
/* Where Cuttlefish's host package (cuttlefish-base) installs launch_cvd and friends. */
#define HOST_CVD_PACKAGE_BIN "/usr/lib/cuttlefish-common/bin"
