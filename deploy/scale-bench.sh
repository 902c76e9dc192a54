#!/usr/bin/env bash
# The scale benchmark in one command: builds rosterd and scale_bench in a Release build
# directory and runs the 10k scenario (tests/bench/scale_bench.cc; docs/scale.md): a real
# ZooKeeper with 10,050 simulated DolphinScheduler 3.3 nodes on 10 sessions, rosterd as a
# child process; prints the table with every figure against a baseline of the same run.
#
#   deploy/scale-bench.sh                         # the 10k scenario (~2 minutes)
#   deploy/scale-bench.sh --workers=200 --quick   # a smoke run; any scale_bench flag passes
#
# Environment:
#   BENCH_BUILD_DIR  build directory (default build-bench)
#   JOBS             build parallelism (default: the number of cores)
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${BENCH_BUILD_DIR:-build-bench}
jobs=${JOBS:-$(nproc)}

bash deploy/install-deps.sh
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROSTER_BUILD_BENCHMARKS=ON
fi
nice -n 10 ninja -C "$build_dir" -j "$jobs" rosterd scale_bench
exec "$build_dir/tests/bench/scale_bench" "$@"
