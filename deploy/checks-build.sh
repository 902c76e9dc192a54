# Sourced by deploy/sanitize.sh and deploy/fuzz.sh: the one clang build that serves three
# checks. Every target is compiled with ASan, UBSan and libFuzzer's coverage instrumentation
# (ROSTER_FUZZ) and analysed by clang's -Wthread-safety (every ABSL_GUARDED_BY: mutexes and
# executor-confined state, util/executor.h). The test suite runs from it under the sanitizers
# (sanitize.sh asan) and the fuzz targets fuzz from it (fuzz.sh): one build instead of three.
#
# -O1 and line tables only: ~2x faster to compile than RelWithDebInfo's -O2 -g, still fast to
# run, and enough for symbolized reports.

# configure_checks_build <build dir>
configure_checks_build() {
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DCMAKE_CXX_COMPILER=clang++ \
    -DROSTER_WERROR=ON -DROSTER_THREAD_SAFETY_ANALYSIS=ON -DROSTER_FUZZ=ON \
    -DROSTER_SANITIZE=address,undefined -DROSTER_BUILD_BENCHMARKS=OFF >/dev/null
}
