#!/usr/bin/env bash
# README command 2: installs what is missing, configures, builds and runs the whole test suite.
#
#   deploy/test.sh                  # everything: unit, integration, e2e, fault
#   deploy/test.sh -L unit          # extra arguments go to ctest
#
# Then, for the whole suite only, the checks CI gates on (docs/building.md): one clang build
# with ASan, UBSan and the thread-safety analysis runs the suite again, and the libFuzzer targets
# fuzz for FUZZ_SECONDS each from it; a TSan build runs the concurrency-heavy tests. Each phase
# prints its wall time.
#
# Environment: BUILD_DIR (default build), JOBS (default: the number of cores), CHECKS=0 skips
# the sanitizer and fuzzing checks, FUZZ_SECONDS (default 20); the sanitizer scripts' own
# (ASAN_BUILD_DIR, TSAN_BUILD_DIR).
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

bash deploy/install-deps.sh
# `buf curl`, a reflection client, for the e2e test of the reflection surface (grpcurl is not
# packaged in Debian 12). From the npm registry, pinned, installed once per build directory.
buf_version=1.75.0
if [[ ! -x "$build_dir/tools/node_modules/.bin/buf" ]]; then
  mkdir -p "$build_dir/tools"
  npm install --silent --no-audit --no-fund --prefix "$build_dir/tools" "@bufbuild/buf@$buf_version"
fi

start=$(date +%s)
phase_start=$start
phase() {
  local now
  now=$(date +%s)
  echo "test.sh: $1: $((now - phase_start)) s"
  phase_start=$now
}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROSTER_WERROR=ON
ninja -C "$build_dir" -j "$jobs"
phase "build (gcc, -Werror)"
ctest --test-dir "$build_dir" -j "$jobs" --output-on-failure --timeout 600 "$@"
phase "test suite"

# The checks, each with its own build directory and ccache. Skipped with CHECKS=0, or when
# ctest was given a selection (e.g. -L unit): they are the whole-suite gates of CI.
if [[ ${CHECKS:-1} == 1 && $# -eq 0 ]]; then
  # clang: the thread-safety analysis of every target, the suite under ASan+UBSan, and the
  # libFuzzer targets, all from one build (deploy/checks-build.sh).
  bash deploy/sanitize.sh asan
  phase "ASan+UBSan build and suite, thread-safety analysis"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash deploy/fuzz.sh
  phase "fuzzing"
  bash deploy/sanitize.sh tsan
  phase "TSan build and concurrency tests"
fi
echo "test.sh: all passed in $(($(date +%s) - start)) s"
