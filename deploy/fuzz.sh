#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) in the clang checks build (deploy/checks-build.sh:
# ASan, UBSan, coverage; the directory deploy/sanitize.sh asan builds too) and runs each for a
# bounded time, starting from its checked-in corpus (tests/fuzz/corpus/<target>/).
# Fails if any target finds a crash, a sanitizer report, a violated property, a timeout or an
# out-of-memory; prints one line per target (executions, time, new inputs, peak memory).
#
#   deploy/fuzz.sh                        # every target, FUZZ_SECONDS each
#   deploy/fuzz.sh heartbeat_fuzz         # only the targets named
#
# Environment:
#   FUZZ_BUILD_DIR  build directory (default build-asan, shared with deploy/sanitize.sh asan)
#   FUZZ_SECONDS    fuzzing time per target (default 30; -max_total_time)
#   FUZZ_RSS_MB     memory limit per target (default 2048; -rss_limit_mb)
#   FUZZ_TIMEOUT_S  one input taking longer is a finding (default 10; -timeout)
#   JOBS            build parallelism (default: the number of cores)
# Inputs the fuzzers add go to $FUZZ_BUILD_DIR/fuzz-corpus/<target>/ (never the source tree);
# findings to $FUZZ_BUILD_DIR/fuzz-findings/<target>/, logs to $FUZZ_BUILD_DIR/fuzz-logs/.
# Reproduce a finding with `$FUZZ_BUILD_DIR/tests/fuzz/<target> <file>`.
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-build-asan}
seconds=${FUZZ_SECONDS:-30}
rss_mb=${FUZZ_RSS_MB:-2048}
timeout_s=${FUZZ_TIMEOUT_S:-10}
jobs=${JOBS:-$(nproc)}
all_targets=(heartbeat_fuzz node_address_fuzz registry_uri_fuzz group_source_fuzz
  drain_record_fuzz rpc_request_fuzz)
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=("${all_targets[@]}")
fi

bash deploy/install-deps.sh
source deploy/checks-build.sh
configure_checks_build "$build_dir"
ninja -C "$build_dir" -j "$jobs" "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for target in "${targets[@]}"; do
  work="$build_dir/fuzz-corpus/$target"
  findings="$build_dir/fuzz-findings/$target"
  log="$build_dir/fuzz-logs/$target.log"
  mkdir -p "$work" "$findings" "$(dirname "$log")"
  start=$(date +%s)
  status=0
  "$build_dir/tests/fuzz/$target" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
    -timeout="$timeout_s" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  runs=$(stat number_of_executed_units)
  line="fuzz $target: ${runs:-?} executions in ${elapsed}s (${runs:+$((runs / (elapsed > 0 ? elapsed : 1)))}/s), $(stat new_units_added) new inputs, peak RSS $(stat peak_rss_mb) MB"
  if ((status != 0)); then
    echo "$line: FINDING (exit $status), see $log and $findings/"
    grep -m 5 -E "ERROR: |runtime error|fuzz property violated|SUMMARY" "$log" | sed 's/^/  /' || true
    failed+=("$target")
  else
    echo "$line: clean"
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets clean, ${seconds}s each"
