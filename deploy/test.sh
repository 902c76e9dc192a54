#!/usr/bin/env bash
# README command 2: installs what is missing, configures, builds and runs the whole test suite.
#
#   deploy/test.sh                  # everything: unit, integration, e2e, fault
#   deploy/test.sh -L unit          # extra arguments go to ctest
#
# Environment: BUILD_DIR (default build), TSA_BUILD_DIR (default BUILD_DIR-tsa), JOBS (default:
# the number of cores).
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

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROSTER_WERROR=ON
ninja -C "$build_dir" -j "$jobs"

# clang's thread-safety analysis: every ABSL_GUARDED_BY (mutexes and executor-confined state,
# see util/executor.h) is checked. Libraries and binaries only; tests and benchmarks are not
# analysed, to keep this short.
tsa_build_dir=${TSA_BUILD_DIR:-$build_dir-tsa}
cmake -S . -B "$tsa_build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROSTER_WERROR=ON \
  -DCMAKE_CXX_COMPILER=clang++ -DROSTER_THREAD_SAFETY_ANALYSIS=ON \
  -DROSTER_BUILD_TESTS=OFF -DROSTER_BUILD_BENCHMARKS=OFF
ninja -C "$tsa_build_dir" -j "$jobs"

cd "$build_dir"
ctest -j "$jobs" --output-on-failure --timeout 600 "$@"
