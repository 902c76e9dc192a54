#!/usr/bin/env bash
# README command 1: the roster quickstart.
#
# Installs what is missing, builds rosterd, rosterctl and roster-sim, starts a real ZooKeeper
# from Debian's package on loopback, rosterd against it, and a simulated DolphinScheduler
# cluster (3 masters, 8 workers in 3 groups, one worker busy) of the chosen release; prints the
# cluster as rosterctl shows it and the grpcurl commands to try, then keeps running until
# Ctrl-C, which stops everything and removes the scratch directory. For 3.1.1 and later, whose
# worker groups live in DolphinScheduler's database, it also starts a PostgreSQL on loopback
# holding t_ds_worker_group, written by the simulator and read by rosterd.
#
#   deploy/quickstart.sh            # run until Ctrl-C
#   deploy/quickstart.sh --once     # print the cluster, then stop everything (CI, scripts)
#   deploy/quickstart.sh --dolphinscheduler_version=3.2   # 2.0 3.0 3.1.0 3.1 3.2.0 3.2.1
#                                   # 3.2.2 3.2 3.3 (default 3.3)
#
# Environment: BUILD_DIR (default build), ROSTER_PORT (default 9090, else a free port),
# ZK_PORT (default 2181, else a free port), PG_PORT (default 5432, else a free port).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
once=false
ds_version=3.3
for arg in "$@"; do
  case "$arg" in
    --once) once=true ;;
    --dolphinscheduler_version=*) ds_version=${arg#*=} ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

case "$ds_version" in
  2.0 | 2.0.* | 3.0 | 3.0.* | 3.1.0) group_db=false ;;  # groups in the registry path
  3.1 | 3.1.[1-9] | 3.2 | 3.2.[012] | 3.3) group_db=true ;;
  *) echo "quickstart: unknown --dolphinscheduler_version '$ds_version' (try --help)" >&2; exit 2 ;;
esac

build_dir=${BUILD_DIR:-build}
bash deploy/install-deps.sh
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "quickstart: building rosterd, rosterctl and roster-sim (first build takes several minutes)"
ninja -C "$build_dir" rosterd rosterctl roster-sim >/dev/null

bin="$root/$build_dir"
rosterd="$bin/server/rosterd"
rosterctl="$bin/client/rosterctl"
sim="$bin/sim/roster-sim"
for exe in "$rosterd" "$rosterctl" "$sim"; do
  [[ -x "$exe" ]] || { echo "quickstart: $exe was not built" >&2; exit 1; }
done

scratch=$(mktemp -d /tmp/roster-quickstart.XXXXXX)
pids=()
keep_logs=false
cleanup() {
  trap - EXIT INT TERM
  # Stop everything even if stdout is a pipe whose reader Ctrl-C has ended.
  set +e
  trap '' PIPE
  echo
  echo "quickstart: stopping the simulator, rosterd and ZooKeeper"
  # Reverse order: the simulator closes its sessions while ZooKeeper is still up.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [[ -f "$scratch/pg/data/postmaster.pid" ]]; then
    echo "quickstart: stopping PostgreSQL"
    as_postgres "$pg_bin/pg_ctl" stop -D "$scratch/pg/data" -m fast -w >/dev/null 2>&1
  fi
  if $keep_logs; then
    echo "quickstart: logs kept in $scratch"
  else
    rm -rf "$scratch"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_postgres() {  # PostgreSQL's programs refuse root: run them as the postgres user
  if ((EUID == 0)); then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # the preferred port if free, else one from a range unlikely to be in use
  local port=$1
  while port_busy "$port"; do port=$((20000 + RANDOM % 10000)); done
  echo "$port"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "quickstart: timed out waiting for $what" >&2
      keep_logs=true
      exit 1
    fi
    sleep 0.2
  done
}

# ZooKeeper, standalone, on loopback, as a plain java process (no systemd).
zk_port=$(free_port "${ZK_PORT:-2181}")
mkdir -p "$scratch/zk/data"
cat >"$scratch/zk/zoo.cfg" <<CFG
tickTime=500
dataDir=$scratch/zk/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
CFG
java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
  org.apache.zookeeper.server.ZooKeeperServerMain "$scratch/zk/zoo.cfg" \
  >"$scratch/zookeeper.log" 2>&1 &
pids+=($!)
zk_serving() { echo srvr | timeout 2 nc -q 1 127.0.0.1 "$zk_port" | grep -q '^Mode:'; }
wait_for 60 "ZooKeeper on 127.0.0.1:$zk_port" zk_serving
registry="zk://127.0.0.1:$zk_port/dolphinscheduler"
echo "quickstart: ZooKeeper serving on 127.0.0.1:$zk_port"

# DolphinScheduler's database (3.1.1 and later keep the worker groups there): a PostgreSQL on
# loopback, its data in the scratch directory, run as the `postgres` user (it refuses root)
# with pg_ctl; trusted logins, as it is loopback only and gone on exit.
db_flags=()
if $group_db; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_port=$(free_port "${PG_PORT:-5432}")
  mkdir -p "$scratch/pg"
  if ((EUID == 0)); then
    chmod 755 "$scratch"
    chown postgres: "$scratch/pg"
  fi
  as_postgres "$pg_bin/initdb" -D "$scratch/pg/data" -U roster -E UTF8 -A trust --no-sync \
    >"$scratch/initdb.log" 2>&1 || { keep_logs=true; echo "quickstart: initdb failed" >&2; exit 1; }
  as_postgres "$pg_bin/pg_ctl" start -D "$scratch/pg/data" -l "$scratch/pg/postgres.log" -w \
    -o "-p $pg_port -k $scratch/pg -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null ||
    { keep_logs=true; echo "quickstart: PostgreSQL did not start" >&2; exit 1; }
  as_postgres "$pg_bin/psql" -h "$scratch/pg" -p "$pg_port" -U roster -d postgres -qc \
    'CREATE DATABASE dolphinscheduler' >/dev/null
  db_uri="postgresql://roster@127.0.0.1:$pg_port/dolphinscheduler"
  db_flags=(--worker_group_db_uri="$db_uri")
  echo "quickstart: PostgreSQL serving on 127.0.0.1:$pg_port ($db_uri)"
fi

# The simulated cluster: masters on 5678-5680, workers on 5681-5688, groups round-robin
# (written to t_ds_worker_group for 3.1.1 and later, before rosterd first reads it). Node 4
# (the second worker, 127.0.0.1:5682) starts BUSY.
mkfifo "$scratch/sim.in"
"$sim" --registry="$registry" --dolphinscheduler_version="$ds_version" "${db_flags[@]}" \
  --masters=3 --workers=8 --groups=etl,spark,default --busy=4 --heartbeat_interval_ms=1000 \
  <"$scratch/sim.in" >"$scratch/sim.out" 2>"$scratch/sim.log" &
pids+=($!)
exec 4>"$scratch/sim.in"  # keeps the simulator's stdin open; commands could be written here
wait_for 60 "the simulator" grep -q '^ready' "$scratch/sim.out"
echo "quickstart: simulating DolphinScheduler $ds_version"

# rosterd. The simulator heartbeats every second, so rosterd expects that interval. A local
# demo: rosterctl on this machine may drain without credentials (--allow_loopback_writes; see
# docs/security.md for a real deployment).
roster_port=$(free_port "${ROSTER_PORT:-9090}")
metrics_port=$(free_port $((roster_port + 1)))
"$rosterd" --registry="$registry" --listen="127.0.0.1:$roster_port" \
  --metrics_listen="127.0.0.1:$metrics_port" --heartbeat_interval_ms=1000 \
  --zk_session_timeout_ms=10000 --dolphinscheduler_version="$ds_version" "${db_flags[@]}" \
  --allow_loopback_writes \
  >"$scratch/rosterd.log" 2>&1 &
pids+=($!)
export ROSTER_TARGET="127.0.0.1:$roster_port"
wait_for 30 "rosterd on $ROSTER_TARGET" grep -q 'health: SERVING' "$scratch/rosterd.log"
echo "quickstart: rosterd serving on $ROSTER_TARGET (metrics on 127.0.0.1:$metrics_port)"
members_running() {
  [[ $("$rosterctl" members --json | grep -o '"state": *"[A-Z]*"' | grep -c -v REGISTERING) -ge 11 ]]
}
wait_for 30 "rosterd to see all 11 nodes" members_running

section() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
show() { section "rosterctl $*"; "$rosterctl" "$@"; }
show members
show groups
if $group_db; then
  section "psql: SELECT name, addr_list FROM t_ds_worker_group"
  as_postgres "$pg_bin/psql" -h "$scratch/pg" -p "$pg_port" -U roster -d dolphinscheduler \
    -c 'SELECT name, addr_list FROM t_ds_worker_group ORDER BY name'
fi
show select --group=etl --explain
show slot 127.0.0.1:5679
if [[ $ds_version == 3.3 ]]; then
  show leader  # only 3.3 has a coordinator
fi

cat <<TXT

rosterd is serving the simulated cluster on $ROSTER_TARGET. Try, in another terminal:

  export ROSTER_TARGET=$ROSTER_TARGET
  $rosterctl members --role=worker
  $rosterctl select --group=spark --strategy=ROUND_ROBIN
  $rosterctl watch --state_changes_only
  $rosterctl drain 127.0.0.1:5683 --reason="disk replacement"

With grpcurl (server reflection; the health service is described too):

  grpcurl -plaintext $ROSTER_TARGET list
  grpcurl -plaintext $ROSTER_TARGET describe roster.v1.Roster
  grpcurl -plaintext -d '{"name": "etl"}' $ROSTER_TARGET roster.v1.Roster/GetWorkerGroup
  grpcurl -plaintext -d '{"name": "etl", "view": "NODE_VIEW_BASIC"}' $ROSTER_TARGET roster.v1.Roster/GetWorkerGroup
  grpcurl -plaintext -d '{"group": "etl", "explain": true}' $ROSTER_TARGET roster.v1.Roster/SelectWorker
  grpcurl -plaintext -d '{"address": "127.0.0.1:5679"}' $ROSTER_TARGET roster.v1.Roster/GetMasterSlot
  grpcurl -plaintext $ROSTER_TARGET grpc.health.v1.Health/Check

Status:  http://127.0.0.1:$metrics_port/ (a live page; /healthz, /readyz, /api/view)
Metrics: curl -s http://127.0.0.1:$metrics_port/metrics
Logs:    $scratch/{rosterd,zookeeper,sim}.log
TXT

if $once; then
  exit 0
fi
echo
echo "quickstart: running; press Ctrl-C to stop everything."
wait "${pids[0]}"
