#!/usr/bin/env bash
# Sanitizer builds of the test suite, each in its own build directory, built with ccache and run
# with ctest. Any sanitizer report fails its test (halt_on_error=1, -fno-sanitize-recover=all).
#
#   deploy/sanitize.sh              # both: ASan+UBSan, then TSan
#   deploy/sanitize.sh asan         # AddressSanitizer + UndefinedBehaviorSanitizer, whole suite
#   deploy/sanitize.sh tsan         # ThreadSanitizer, the concurrency-heavy tests (TSAN_TARGETS)
#   deploy/sanitize.sh asan -L unit # extra arguments go to ctest
#
# Environment: ASAN_BUILD_DIR (default build-asan), TSAN_BUILD_DIR (default build-tsan), JOBS
# (default: the number of cores). Suppressions, each explained, are in deploy/sanitizers/; they
# only ever name code outside roster.
#
# TSan needs Abseil's synchronization compiled with TSan (cmake/RosterSanitize.cmake says why):
# the first run fetches Debian's abseil source package, of exactly the installed libabsl-dev
# version, with `apt-get source` into TSAN_BUILD_DIR/_deps (a private source list: the system's
# apt configuration is not touched).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
asan_build_dir=${ASAN_BUILD_DIR:-build-asan}
tsan_build_dir=${TSAN_BUILD_DIR:-build-tsan}
jobs=${JOBS:-$(nproc)}

# The tests the TSan build runs: what shares state between threads without gRPC (the executor,
# the registries and their caches, the ZooKeeper client's threads, the cluster manager).
# Executables not built here show up in ctest as <target>_NOT_BUILT and are excluded.
# Not here: server_test and rosterd_process_test (the daemon, its gRPC services and watch
# streams). Debian's gRPC is not built with TSan and hands work between its threads through its
# own atomics, so TSan reports races inside gRPC (tcp_send, Arena) and on the messages roster
# passes through it: ~80 reports in one run, none attributable to roster without an
# instrumented gRPC. Nor the tests on a real ZooKeeper (zookeeper_registry_test,
# registry_contract_zookeeper_test, cluster_manager_zk_test, and zk_request_queue_test, whose
# handles connect to a closed port): Debian's ZooKeeper C client races with itself (two
# handles' threads sprintf into one static buffer of the library), and neither suppression TSan
# offers is sound for it (see docs/building.md).
tsan_targets=(
  executor_test
  registry_contract_memory_test memory_registry_test subtree_cache_test
  cluster_manager_test cluster_manager_clock_test change_fanout_test polling_group_source_test
)

what=all
if [[ $# -gt 0 && ( $1 == asan || $1 == tsan || $1 == all ) ]]; then
  what=$1
  shift
fi

bash deploy/install-deps.sh
source deploy/checks-build.sh

# GoogleTest death tests re-execute the binary instead of forking a multi-threaded process,
# which the sanitizers' runtimes do not support.
export GTEST_DEATH_TEST_STYLE=threadsafe
supp="$root/deploy/sanitizers"

# -O1 and line tables only: ~2x faster to compile than RelWithDebInfo's -O2 -g, still fast to run,
# and enough for symbolized reports.
build_type=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")

elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

run_asan() {
  local t0 t1
  t0=$(date +%s)
  configure_checks_build "$asan_build_dir"
  ninja -C "$asan_build_dir" -j "$jobs"
  # buf_curl_test needs `buf curl` in the build directory (as deploy/test.sh installs it).
  if [[ ! -x "$asan_build_dir/tools/node_modules/.bin/buf" ]]; then
    mkdir -p "$asan_build_dir/tools"
    npm install --silent --no-audit --no-fund --prefix "$asan_build_dir/tools" "@bufbuild/buf@1.75.0"
  fi
  t1=$(date +%s)
  echo "sanitize: ASan+UBSan build: $(elapsed "$t0")"
  # find_package_test (both builds) builds a separate, unsanitized project against the
  # installed client library, which cannot link a sanitized archive; deploy/test.sh runs it.
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=1" \
  LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp" \
    ctest --test-dir "$asan_build_dir" -j "$jobs" --output-on-failure --timeout 900 \
      -E '^find_package_test$' "$@"
  echo "sanitize: ASan+UBSan tests: $(elapsed "$t1")"
}

# Debian's abseil source package, unpacked (with Debian's patches) under $1.
fetch_abseil_source() {
  local dest=$1 version work
  version=$(dpkg-query -W -f='${Version}' libabsl-dev)
  if [[ -f "$dest/.version" && $(cat "$dest/.version") == "$version" ]]; then
    return
  fi
  work=$(dirname "$dest")/abseil-apt
  rm -rf "$dest" "$work"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  cat > "$work/sources.list" <<EOF
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
  local apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  apt-get "${apt_opts[@]}" update
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "abseil=$version")
  dpkg-source -x "$work"/abseil_*.dsc "$dest"
  echo "$version" > "$dest/.version"
  rm -rf "$work" "$(dirname "$dest")"/abseil_*.orig.tar.*
}

run_tsan() {
  local t0 t1 absl_src
  t0=$(date +%s)
  mkdir -p "$tsan_build_dir/_deps"
  absl_src=$(realpath "$tsan_build_dir/_deps")/abseil-src
  fetch_abseil_source "$absl_src"
  cmake -S . -B "$tsan_build_dir" -G Ninja "${build_type[@]}" \
    -DROSTER_SANITIZE=thread -DROSTER_TSAN_ABSL_SOURCE_DIR="$absl_src" \
    -DROSTER_BUILD_BENCHMARKS=OFF
  ninja -C "$tsan_build_dir" -j "$jobs" "${tsan_targets[@]}"
  t1=$(date +%s)
  echo "sanitize: TSan build: $(elapsed "$t0")"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp" \
    ctest --test-dir "$tsan_build_dir" -j "$jobs" --output-on-failure --timeout 900 \
      -E '_NOT_BUILT$|^find_package_test$' "$@"
  echo "sanitize: TSan tests: $(elapsed "$t1")"
}

case $what in
  asan) run_asan "$@" ;;
  tsan) run_tsan "$@" ;;
  all)
    run_asan "$@"
    run_tsan "$@"
    ;;
esac
