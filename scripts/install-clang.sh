#!/usr/bin/env bash
# Installs Debian's clang if it is missing: `tests/export_c.rs` compiles every C export with gcc
# and clang under -std=c99 -Wall -Wextra -Werror (docs/deploy.md promises both), and `.ci/run`
# sets NEUROPOS_REQUIRE_CLANG so a missing one fails rather than skips.
set -euo pipefail
if command -v clang >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "clang is missing and installing it needs root: apt-get install clang" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends clang >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends clang >/dev/null; }
