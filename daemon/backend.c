/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>

#include "daemon/backend.h"

const BackendOps *backend_ops(Backend b) {
        switch (b) {
        case BACKEND_QEMU:
                return &backend_qemu_ops;
        case BACKEND_CROSVM:
                return &backend_crosvm_ops;
        case BACKEND_CVD:
                return &backend_cvd_ops;
        case _BACKEND_MAX:
        case _BACKEND_INVALID:
                break;
        }
        return NULL;
}
