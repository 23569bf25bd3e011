#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test
# orderfleet: the packages in deploy/packages-build.txt (or the list files
# given as arguments). A line is "package [command]": with a command, the
# package is skipped when that command is already on PATH. Does nothing when all are installed. As root it runs
# apt-get itself; otherwise it uses sudo when that works without a password,
# and else prints the exact command to run and fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$@")
[ ${#lists[@]} -gt 0 ] || lists=("$here/packages-build.txt")

missing=()
for list in "${lists[@]}"; do
  while read -r pkg cmd _; do
    pkg=${pkg%%#*}
    [ -n "$pkg" ] || continue
    [[ ${cmd:-} == \#* ]] && cmd=
    if [ -n "${cmd:-}" ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done < "$list"
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this is not a Debian/Ubuntu machine; install these (or their equivalents) yourself: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install-deps: missing packages; run this once, then try again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
