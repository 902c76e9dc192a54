#!/usr/bin/env bash
# Installs every Debian package roster needs to build, test and run, skipping what is present.
# Idempotent and safe to run on every invocation; tolerant of another apt holding the lock.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang clang-format libssl-dev
  # libFuzzer and the sanitizer runtimes for clang (deploy/fuzz.sh): only recommended by clang.
  libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libzookeeper-mt-dev libgoogle-glog-dev libgflags-dev libgtest-dev libgmock-dev
  libbenchmark-dev zookeeper default-jre-headless python3 netcat-openbsd procps
  # simdjson: the heartbeat JSON reader ahead of protobuf's parser (cluster/heartbeat_json.cc).
  libsimdjson-dev
  # tcmalloc: rosterd's allocator (cmake/RosterAllocator.cmake).
  libgoogle-perftools-dev
  # civetweb: rosterd's HTTP server (/metrics, /healthz, /readyz, the status page).
  libcivetweb-dev
  # The status page's browser test (tests/e2e/status_page_test.cc): headless Chromium.
  chromium
  # DolphinScheduler's worker groups from its database (cluster/dsdb) and the test servers.
  postgresql mariadb-server libpq-dev libmariadb-dev
  # The etcd registry (registry/etcd): the server its tests start, and the .proto files of its
  # v3 API that proto/etcd/ was copied from.
  etcd-server golang-etcd-server-dev
  # Instruction counts of the event path in deploy/scale-bench.sh (callgrind).
  valgrind
  # promtool, which checks and unit-tests deploy/prometheus/roster-rules.yml (ctest
  # prometheus_rules_*); only the tool is used, the server is not started.
  prometheus
  # The Debian package (deploy/package.sh, tests/e2e/package_test.sh): dpkg-shlibdeps for its
  # Depends, systemd-analyze to verify its unit; PyYAML checks rosterctl's --output=yaml.
  dpkg-dev systemd python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get "${apt_opts[@]}" update
$sudo apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
