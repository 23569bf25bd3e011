#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given
# programs (and shared objects) load, one per line, sorted: what a runtime
# image must install so that they run, and nothing more. Asks the machine that
# built them (ldd, then dpkg-query -S), so it is right on Debian 12 and 13 alike
# even where package names differ (librdkafka1 vs librdkafka1t64).
#
#   deploy/runtime-packages.sh PATH...     PATH: a directory (every ELF file in
#                                          it, not recursive) or a file
#
# Exit status: 0 listed; 1 a library is missing (ldd: "not found") or belongs
# to no installed package (the message names it and who needs it); 64 usage.
set -euo pipefail

die() { echo "runtime-packages.sh: $*" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: deploy/runtime-packages.sh BIN_DIR|FILE..." >&2; exit 64; }
command -v ldd >/dev/null || die "ldd is not installed (package libc-bin)"
command -v dpkg-query >/dev/null || die "dpkg-query is not installed: this is not a Debian system"

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

files=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    for f in "$arg"/*; do is_elf "$f" && files+=("$f"); done
  elif is_elf "$arg"; then
    files+=("$arg")
  else
    die "$arg is neither a directory nor an ELF file"
  fi
done
[ ${#files[@]} -gt 0 ] || die "no ELF files in $*"

# The paths a library's package may have recorded it under: the path ldd
# printed, its real path, and both with /usr toggled: dpkg records the path a package ships, and with the
# merged /usr that is /lib/... for some packages and /usr/lib/... for others
# (Debian 13 moved many).
candidates() {
  local lib=$1 real
  real=$(readlink -f "$lib")
  printf '%s\n' "$lib" "$real" "${lib#/usr}" "/usr${lib#/usr}" "${real#/usr}" "/usr${real#/usr}"
}

# Every library the files load, once each.
declare -A seen=() needed_by=()
libs=()
for f in "${files[@]}"; do
  ldd_out=$(ldd "$f" 2>&1) || die "ldd $f failed: $ldd_out"
  if grep -q 'not found' <<<"$ldd_out"; then
    die "$f needs libraries this machine does not have: $(grep 'not found' <<<"$ldd_out" | awk '{print $1}' | tr '\n' ' ')"
  fi
  # "libx.so.1 => /lib/.../libx.so.1 (0x...)", or "/lib64/ld-linux-x86-64.so.2 (0x...)";
  # linux-vdso has no file.
  while read -r lib; do
    [ -n "$lib" ] || continue
    [ -z "${seen[$lib]:-}" ] || continue
    seen[$lib]=1
    libs+=("$lib")
    needed_by[$lib]=$f
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out")
done

# One dpkg-query for every candidate path of every library: each call reads
# dpkg's whole database, and one or two per library took a minute on a busy
# machine. Lines are "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6", or
# "pkg1:amd64, pkg2:amd64: path" with several owners; paths no package has are
# only complained about on stderr.
declare -A owner_of=() asked=()
all=()
for lib in "${libs[@]}"; do
  while read -r cand; do
    [ -z "${asked[$cand]:-}" ] || continue
    asked[$cand]=1
    all+=("$cand")
  done < <(candidates "$lib")
done
while IFS= read -r line; do
  [[ $line == "diversion by"* ]] && continue
  path=${line##*: }
  [ -n "${owner_of[$path]:-}" ] || owner_of[$path]=${line%: "$path"}
done < <(dpkg-query -S "${all[@]}" 2>/dev/null || true)

pkgs=()
for lib in "${libs[@]}"; do
  found=
  while read -r cand; do
    if [ -n "${owner_of[$cand]:-}" ]; then found=${owner_of[$cand]}; break; fi
  done < <(candidates "$lib")
  [ -n "$found" ] || die "$lib (needed by ${needed_by[$lib]}) belongs to no installed Debian package"
  # Drop the architectures.
  pkgs+=($(tr ',' '\n' <<<"$found" | sed 's/^ *//; s/:.*$//'))
done

printf '%s\n' "${pkgs[@]}" | sort -u
