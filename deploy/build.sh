#!/usr/bin/env bash
# The one build of orderfleet, used by `make build` (so by CI's `make test`)
# and by deploy/Dockerfile: configures CMake into BUILD_DIR (when it is not
# configured yet, or when CMake arguments are given) and builds the four
# programs and the example handler, or with --all every target (the tests too).
#
#   deploy/build.sh [BUILD_DIR] [--type TYPE] [--jobs N] [--all] [--install DIR]
#                   [-- CMAKE_ARGS...]
#
#   BUILD_DIR       the build tree (default build/); programs land in BUILD_DIR/bin
#   --type TYPE     CMake build type of a new tree: RelWithDebInfo (default) or Release
#   --jobs N        parallel build jobs (default: the number of cores)
#   --all           every target, tests included (what `make build` builds)
#   --install DIR   afterwards copy the programs to DIR/bin and the example
#                   handler to DIR/lib/orderfleet (DIR is created)
#   -- CMAKE_ARGS   passed to the CMake configure step, e.g. -DBUILD_TESTING=OFF
#
# Exit status: 0 built (and installed), 1 the configure or the build failed,
# 64 a usage error.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
programs=(order-producer order-worker order-gateway order-devbroker)
handler_target=orderfleet_flat_rate
handler_file=liborderfleet_flat_rate.so

usage() { # usage STATUS: the synopsis above, on stdout for --help, else on stderr
  if [ "$1" = 0 ]; then sed -n '7,16p' "$0" | sed 's/^# \{0,1\}//'
  else sed -n '7,16p' "$0" | sed 's/^# \{0,1\}//' >&2; fi
  exit "$1"
}
die() { echo "build.sh: $*" >&2; exit 1; }

build_dir= type=RelWithDebInfo jobs=$(nproc 2>/dev/null || echo 2) all=0 install_dir=
cmake_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --type) [ $# -ge 2 ] || usage 64; type=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || usage 64; jobs=$2; shift 2 ;;
    --all) all=1; shift ;;
    --install) [ $# -ge 2 ] || usage 64; install_dir=$2; shift 2 ;;
    --) shift; cmake_args=("$@"); break ;;
    -h|--help) usage 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; usage 64 ;;
    *) [ -z "$build_dir" ] || { echo "build.sh: one BUILD_DIR only, got \"$1\" too" >&2; usage 64; }
       build_dir=$1; shift ;;
  esac
done
case $type in
  Release|RelWithDebInfo|Debug) ;;
  *) echo "build.sh: --type must be RelWithDebInfo, Release or Debug, got \"$type\"" >&2; usage 64 ;;
esac
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "build.sh: --jobs takes a positive number, got \"$jobs\"" >&2; usage 64; }
build_dir=${build_dir:-$src/build}

# An existing tree keeps its settings (cmake --build re-runs the configure
# step by itself when a CMakeLists.txt changed); new CMake arguments are applied.
if [ ! -f "$build_dir/CMakeCache.txt" ] || [ ${#cmake_args[@]} -gt 0 ]; then
  cmake -S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE="$type" ${cmake_args[@]+"${cmake_args[@]}"} ||
    die "configuring $build_dir failed (see the CMake output above)"
fi

if [ "$all" = 1 ]; then
  cmake --build "$build_dir" -j "$jobs" || die "building $build_dir failed"
else
  cmake --build "$build_dir" -j "$jobs" --target "${programs[@]}" "$handler_target" ||
    die "building ${programs[*]} in $build_dir failed"
fi

if [ -n "$install_dir" ]; then
  mkdir -p "$install_dir/bin" "$install_dir/lib/orderfleet"
  for p in "${programs[@]}"; do
    [ -x "$build_dir/bin/$p" ] || die "$build_dir/bin/$p is missing after the build"
    install -m 0755 "$build_dir/bin/$p" "$install_dir/bin/$p"
  done
  [ -f "$build_dir/lib/$handler_file" ] || die "$build_dir/lib/$handler_file is missing after the build"
  install -m 0644 "$build_dir/lib/$handler_file" "$install_dir/lib/orderfleet/$handler_file"
  echo "build.sh: installed ${programs[*]} into $install_dir/bin, $handler_file into $install_dir/lib/orderfleet" >&2
fi
