#!/usr/bin/env bash
# The browser test's driver (ctest runs it as test_page, label `browser`):
# installs playwright-core from tests/page/package-lock.json into
# BUILD/page-test (npm ci, redone only when the lock file changes; never a
# node_modules in the source tree), then runs test_page.mjs against the
# programs in BIN, with screenshots in BUILD/test-artifacts/page-*.png.
#
# Usage: tests/page/run.sh BIN_DIR BUILD_DIR [--screenshot FILE]
#   --screenshot docs/page.png   also regenerates the README's screenshot
#
# Chromium is Debian's /usr/bin/chromium; node and npm come from Debian too
# (deploy/packages-browser.txt, installed by `make deps-e2e`). A missing one
# fails at once with the command that installs it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 BIN_DIR BUILD_DIR [--screenshot FILE]" >&2; exit 2; }
bin=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
shift 2

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x "${ORDERFLEET_TEST_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test_page: missing ${missing[*]}: run deploy/install-deps.sh deploy/packages-browser.txt" \
       "(or make deps-e2e)" >&2
  exit 1
fi

# playwright-core, pinned by the committed lock file, cached between runs.
deps="$build/page-test"
mkdir -p "$deps"
if ! cmp -s "$here/package-lock.json" "$deps/.installed-lock.json" ||
   [ ! -f "$deps/node_modules/playwright-core/package.json" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$deps/"
  echo "test_page: npm ci --prefix $deps" >&2
  if ! timeout 300 npm ci --prefix "$deps" --ignore-scripts --no-audit --no-fund \
       --loglevel=error >&2; then
    echo "test_page: npm ci failed: playwright-core could not be installed from the npm" \
         "registry into $deps" >&2
    exit 1
  fi
  cp "$here/package-lock.json" "$deps/.installed-lock.json"
fi

artifacts="$build/test-artifacts"
mkdir -p "$artifacts" "$build/test-logs"
# The test bounds itself (85 s); timeout is the last resort if node hangs.
exec timeout -k 5 120 node "$here/test_page.mjs" --modules "$deps/node_modules" --bin "$bin" \
  --artifacts "$artifacts" --logs "$build/test-logs" "$@"
