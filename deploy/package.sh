#!/usr/bin/env bash
# Builds roster's Debian package (rosterd, rosterctl, roster-sim, the systemd unit, an example
# flagfile, bash completion, the operator docs) with CPack: cmake/RosterPackage.cmake.
#
#   deploy/package.sh [BUILD_DIR] [OUT_DIR]     # defaults: build, BUILD_DIR/packages
#   sudo dpkg -i build/packages/roster_*.deb      # or apt install ./build/packages/roster_*.deb
#
# BUILD_DIR is configured (Release, no tests) if it is not a CMake build directory yet; an
# existing one is used as it is. Only the packaged targets are built.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
out=${2:-$build/packages}

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DROSTER_BUILD_TESTS=OFF -DROSTER_BUILD_BENCHMARKS=OFF
fi
nice -n 10 cmake --build "$build" --target rosterd rosterctl roster-sim rosterctl_completion
mkdir -p "$out"
(cd "$build" && cpack -G DEB --config CPackConfig.cmake -B "$out")
rm -rf "$out/_CPack_Packages"
ls -1 "$out"/roster_*.deb
