/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point; fuzz-main.c calls it once per file when built without libFuzzer. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
