#!/usr/bin/env bash
# The scale benchmark in one command: builds rosterd, scale_bench and cluster_bench in a Release
# build directory, runs the 10k scenario (tests/bench/scale_bench.cc; docs/scale.md: a real
# ZooKeeper with 10,050 simulated DolphinScheduler 3.3 nodes on 10 sessions, rosterd as a child
# process; every figure against a baseline of the same run), then counts the instructions of
# the heartbeat event path with callgrind (wall times on a shared machine move by 30% and more;
# instruction counts do not).
#
#   deploy/scale-bench.sh                         # the 10k scenario (~1.5 min) + callgrind (~4 min)
#   deploy/scale-bench.sh --workers=200 --quick   # a smoke run; any scale_bench flag passes
#
# Environment:
#   BENCH_BUILD_DIR  build directory (default build-bench)
#   CALLGRIND        0 skips the instruction counts (default 1)
#   JOBS             build parallelism (default: the number of cores)
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir=${BENCH_BUILD_DIR:-build-bench}
callgrind=${CALLGRIND:-1}
jobs=${JOBS:-$(nproc)}

bash deploy/install-deps.sh
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROSTER_BUILD_BENCHMARKS=ON
fi
nice -n 10 ninja -C "$build_dir" -j "$jobs" rosterd scale_bench cluster_bench
"$build_dir/tests/bench/scale_bench" "$@"
[[ "$callgrind" == 1 ]] || exit 0

# cluster_bench's ClusterManagerEvents_Direct/spread: 5 rounds, each one heartbeat event of
# every one of its 10,000 workers (kEventWorkers), from the registry's event to the published
# view. Callgrind dumps its counts after every round (benchmark::State::SetIterationTime), so
# dumps 2..5 hold exactly rounds 2..5 (dump 1 holds the set-up and round 1).
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo
echo "instruction counts (callgrind), cluster_bench ClusterManagerEvents_Direct/spread, 10,000 workers:"
# The managers' clock slowed 50x, about as much as callgrind slows the code, so that the burst
# rule sees gaps like a native run's and the events are batched (about 2,000 a batch under
# callgrind; without it each event is published alone): SlowedClock in
# tests/bench/cluster_bench.cc.
valgrind --tool=callgrind --callgrind-out-file="$out/cg" --dump-after='*SetIterationTime*' \
  "$build_dir/tests/bench/cluster_bench" --manager_clock_slowdown=50 \
  --benchmark_filter='ClusterManagerEvents_Direct/spread/' >"$out/log" 2>&1
events_per_round=10000
total=0
parse=0
for round in 2 3 4 5; do
  dump="$out/cg.$round"
  total=$((total + $(sed -n 's/^summary: //p' "$dump")))
  # ParseHeartbeat's inclusive count (protobuf's JSON parser and the checks around it).
  parse=$((parse + $(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null |
    awk '/roster::cluster::ParseHeartbeat\(/ && !found { gsub(",", "", $1); print $1; found = 1 }')))
done
events=$((4 * events_per_round))
printf '  %-58s %12s %10s\n' "per heartbeat event (rounds 2-5, $events events)" "instructions" "ratio"
printf '  %-58s %12d %10s\n' "whole path: registry event -> published view" $((total / events)) \
  "$(awk -v t="$total" -v p="$parse" 'BEGIN { printf "%.2fx", t / p }')"
printf '  %-58s %12d %10s\n' "baseline: ParseHeartbeat alone (inside the path)" $((parse / events)) "1.00x"
