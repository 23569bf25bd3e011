#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build dir of their own) and runs
# each for a set time on a fresh working corpus copied from the seeds
# (tests/fuzz/corpus/<target>) and the kept crashes
# (tests/fuzz/regressions/<target>). The committed corpus is never written,
# unless --merge is given. Fails on any crash, leak, timeout or
# out-of-memory, printing the reproducer and how to replay it.
#
#   tests/fuzz/run.sh [--seconds N] [--build DIR] [--jobs N] [--merge] [TARGET...]
#
#   --seconds N  how long each target runs (default: $FUZZ_SECONDS, else 60)
#   --build DIR  the clang build dir (default: build-fuzz)
#   --jobs N     build jobs (default: 1)
#   --merge      afterwards, add the inputs that reach new coverage to the
#                committed seeds (libFuzzer -merge=1: only those, minimised
#                set, named by their SHA-1); review them with git status
#   TARGET...    fuzz_order_codec ... (default: every target)
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD

seconds=${FUZZ_SECONDS:-60}
build=build-fuzz
jobs=1
merge=0
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case $seconds in
  ''|*[!0-9]*) echo "run.sh: --seconds wants a whole number, got '$seconds'" >&2; exit 64 ;;
esac

# The longest input each parser gets: a real value with room to spare.
max_len() {
  case $1 in
    fuzz_order_codec|fuzz_order_json|fuzz_config) echo 4096 ;;
    fuzz_ndjson) echo 8192 ;;
    fuzz_headers) echo 2048 ;;
    fuzz_prefer|fuzz_route) echo 512 ;;
    *) echo 4096 ;;
  esac
}

all=$(sed -n '/^set(ORDERFLEET_FUZZ_TARGETS/,/)/p' tests/fuzz/targets.cmake |
      grep -o 'fuzz_[a-z_]*')
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all)"
for t in "${targets[@]}"; do
  if ! grep -qx "$t" <<<"$all"; then
    echo "run.sh: no fuzz target $t (targets: $(echo $all))" >&2
    exit 64
  fi
done

if ! command -v clang >/dev/null 2>&1; then
  echo "run.sh: clang is missing: run deploy/install-fuzz-deps.sh" >&2
  exit 69
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  # -O1 and line tables only, as OSS-Fuzz builds: quicker to build (CI), as good to fuzz.
  CC=clang cmake -S . -B "$build" -DORDERFLEET_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
fi
cmake --build "$build" -j "$jobs" --target fuzz_targets >/dev/null

build=$(realpath -m "$build")
work=$build/fuzz-work
failed=()
for t in "${targets[@]}"; do
  dir=$work/$t
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  for seeds in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
    [ -d "$seeds" ] && find "$seeds" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dir/corpus/" \;
  done
  args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="$src/tests/fuzz/$t.dict")
  # NDJSON lines are JSON orders: the JSON dictionary serves them.
  [ "$t" = fuzz_ndjson ] && args+=(-dict="$src/tests/fuzz/fuzz_order_json.dict")
  printf '== %-18s %ss, max_len %s ... ' "$t" "$seconds" "$(max_len "$t")"
  if (cd "$dir" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan.supp "$build/fuzz/$t" "${args[@]}" corpus \
        >log.txt 2>&1); then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log.txt" | grep -o '[0-9]*$')
    echo "ok ($runs runs," \
         "$(find "$dir/corpus" -type f | wc -l) inputs in the corpus)"
  else
    echo "FAILED"
    failed+=("$t")
    grep -E '^==[0-9]+==ERROR|^SUMMARY|property failed|runtime error|ALARM|out-of-memory' \
      "$dir/log.txt" | head -n 20 | sed 's/^/   /' || true
    for a in "$dir"/artifacts/*; do
      [ -f "$a" ] || continue
      echo "   reproducer: $a ($(stat -c %s "$a") bytes)"
      echo "   replay:     $build/fuzz/$t $a"
      echo "   keep it:    cp $a tests/fuzz/regressions/$t/<what-it-is>  (docs/fuzzing.md)"
    done
    echo "   whole log:  $dir/log.txt"
  fi
  if [ "$merge" = 1 ]; then
    mkdir -p "tests/fuzz/corpus/$t"
    before=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
    "$build/fuzz/$t" -merge=1 -max_len="$(max_len "$t")" "tests/fuzz/corpus/$t" "$dir/corpus" \
      >"$dir/merge.txt" 2>&1 || echo "   merge failed: $dir/merge.txt"
    after=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
    echo "   merged: $((after - before)) new seeds in tests/fuzz/corpus/$t"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash, leak or timeout"
