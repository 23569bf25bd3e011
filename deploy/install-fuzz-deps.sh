#!/usr/bin/env bash
# Installs clang and the libFuzzer runtime matching its major version
# (deploy/packages-fuzz.txt), through install-deps.sh. Debian 12 has clang 14
# (libclang-rt-14-dev), Debian 13 clang 19 (libclang-rt-19-dev): the
# runtime's package name is known only once clang is there, so this installs
# clang first, then the list with @CLANG_MAJOR@ filled in. Does nothing when
# everything is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages-fuzz.txt"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

grep -v '@CLANG_MAJOR@' "$list" >"$tmp"
"$here/install-deps.sh" "$tmp"

major=$(clang --version | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n1)
if [ -z "$major" ]; then
  echo "install-fuzz-deps: cannot tell clang's major version from:" \
       "$(clang --version | head -n1)" >&2
  exit 1
fi
sed "s/@CLANG_MAJOR@/$major/g" "$list" >"$tmp"
"$here/install-deps.sh" "$tmp"
