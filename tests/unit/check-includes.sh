#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The include rules of ARCHITECTURE.md §1: one include root, folder-qualified includes, and only
# these edges between the folders of the product:
#   common   -> common
#   netsetup -> common, netsetup
#   vmm      -> common, vmm
#   daemon   -> common, netsetup, vmm, daemon
#   cfctl    -> common, cfctl
# Prints every offending line (file:line: what and why) and fails if there is one.
set -uo pipefail
cd "${1:-$(dirname "$0")/../..}" || exit 1

declare -A allowed=(
        [common]="common"
        [netsetup]="common netsetup"
        [vmm]="common vmm"
        [daemon]="common netsetup vmm daemon"
        [cfctl]="common cfctl"
)
bad=0
checked=0
for folder in "${!allowed[@]}"; do
        while IFS= read -r hit; do
                file=${hit%%:*}
                rest=${hit#*:}
                line=${rest%%:*}
                inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$rest")
                checked=$((checked + 1))
                case $inc in
                build-config.h) continue ;;
                */*) ;;
                *)
                        echo "$file:$line: #include \"$inc\" is not folder-qualified (write \"<folder>/$inc\")"
                        bad=$((bad + 1))
                        continue
                        ;;
                esac
                to=${inc%%/*}
                if [[ $inc == *..* ]]; then
                        echo "$file:$line: #include \"$inc\" climbs with '..': include from the root"
                        bad=$((bad + 1))
                elif [[ " ${allowed[$folder]} " != *" $to "* ]]; then
                        echo "$file:$line: $folder/ may not include $to/ (\"$inc\"): $folder/ may include ${allowed[$folder]// /, }"
                        bad=$((bad + 1))
                fi
        done < <(grep -nH -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$folder"/*.[ch] 2>/dev/null)
done
if [ "$bad" -gt 0 ]; then
        echo "check-includes: $bad forbidden include(s) of $checked"
        exit 1
fi
echo "check-includes: $checked includes in ${!allowed[*]}, all allowed"
