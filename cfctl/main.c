/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cfctl/cfctl.h"

int main(int argc, char *argv[]) {
        return cfctl_main(argc, argv);
}
