#!/usr/bin/env bash
# The Debian package end to end (ctest: package_test, label e2e):
#   1. cpack builds it from this build directory's binaries, into a temporary directory;
#   2. dpkg-deb shows the files it must hold and a Depends that names installed packages;
#   3. systemd-analyze verifies its unit and rates its sandbox;
#   4. dpkg installs it into a throwaway root (its maintainer scripts run, without systemd);
#   5. the installed rosterd prints its version, starts with the installed example flagfile
#      (on the in-memory registry) and answers the installed rosterctl; the installed bash
#      completion loads;
#   6. dpkg purges it from that root.
#
# Why a throwaway root (dpkg --root DIR --force-script-chrootless) and not `dpkg -i` on this
# machine: this is a shared CI host. Installing for real would replace whatever /usr/bin/rosterd
# another job uses, take the dpkg lock other jobs need, and leave state behind if the test dies
# half-way. The throwaway root has its own dpkg database; the maintainer scripts run with
# DPKG_ROOT set, which they honour (no systemctl, paths under the root). Depends cannot be
# satisfied inside an empty database (--force-depends); step 2 checks each of them against the
# host's database instead, and step 5 runs the binaries on the host's libraries.
#
#   tests/e2e/package_test.sh BUILD_DIR VERSION [CPACK]
set -euo pipefail

build=$1
version=$2
cpack=${3:-cpack}

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/roster-package-test.XXXXXX")
rosterd_pid=""
cleanup() {
  if [[ -n "$rosterd_pid" ]]; then kill -KILL "$rosterd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. Build the package ----------------------------------------------------------------------
(cd "$build" && "$cpack" -G DEB --config CPackConfig.cmake -B "$work/out") >"$work/cpack.log" 2>&1 ||
  fail "cpack: $(tail -20 "$work/cpack.log")"
debs=("$work"/out/roster_"$version"_*.deb)
[[ -f "${debs[0]}" ]] || fail "no roster_${version}_*.deb in $(ls "$work/out")"
deb=${debs[0]}

# --- 2. What it holds, and what it needs -------------------------------------------------------
[[ $(dpkg-deb --field "$deb" Package) == roster ]] || fail "Package: $(dpkg-deb --field "$deb" Package)"
[[ $(dpkg-deb --field "$deb" Version) == "$version" ]] ||
  fail "Version: $(dpkg-deb --field "$deb" Version), expected $version"
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/rosterd ./usr/bin/rosterctl ./usr/bin/roster-sim; do
  grep -Eq "^-rwxr-xr-x root/root .* $path\$" <<<"$contents" || fail "no executable $path in:
$contents"
done
for path in ./usr/lib/systemd/system/rosterd.service ./usr/share/roster/examples/rosterd.flags \
  ./usr/share/bash-completion/completions/rosterctl ./usr/share/doc/roster/runbook.md; do
  grep -Eq "^-rw-r--r-- root/root .* $path\$" <<<"$contents" || fail "no $path in:
$contents"
done

depends=$(dpkg-deb --field "$deb" Depends)
names=$(tr ',' '\n' <<<"$depends" | awk '{ print $1 }')
for needed in libgrpc++1.51 libprotobuf32 libzookeeper-mt2 libgoogle-glog0v6 libtcmalloc-minimal4 libc6; do
  grep -Fxq "$needed" <<<"$names" || fail "Depends lacks $needed: $depends"
done
# Every dependency dpkg-shlibdeps found is a real package, installed here (the binaries run).
for name in $names; do
  [[ $(dpkg-query -W -f='${Status}' "$name" 2>/dev/null) == "install ok installed" ]] ||
    fail "Depends names '$name', which is not an installed package"
done
# (Listed first: `grep -q` in the pipeline would stop reading early and fail it on SIGPIPE.)
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
for script in postinst prerm postrm; do
  grep -qx "./$script" <<<"$control" || fail "no $script in: $control"
done

# --- 3. The unit -------------------------------------------------------------------------------
root="$work/root"
unit_dir="$work/unit"
mkdir -p "$unit_dir"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/rosterd.service >"$work/rosterd.service"
grep -qx 'ExecStart=rosterd --flagfile=%d/rosterd.flags' "$work/rosterd.service" ||
  fail "ExecStart: $(grep ExecStart= "$work/rosterd.service")"
# systemd resolves a bare ExecStart in /usr/bin only on a machine with the package installed:
# point it at the extracted binary to verify everything else.
dpkg-deb -x "$deb" "$work/extracted"
# Stripped: no debug sections (a RelWithDebInfo rosterd is ~50 MiB with them, ~2 MiB without).
for binary in rosterd rosterctl roster-sim; do
  sections=$(readelf --section-headers --wide "$work/extracted/usr/bin/$binary")
  ! grep -q '\.debug_info' <<<"$sections" || fail "$binary is not stripped"
done
sed "s|^ExecStart=rosterd |ExecStart=$work/extracted/usr/bin/rosterd |" "$work/rosterd.service" \
  >"$unit_dir/rosterd.service"
verify=$(systemd-analyze verify "$unit_dir/rosterd.service" 2>&1) ||
  fail "systemd-analyze verify: $verify"
[[ -z "$verify" ]] || fail "systemd-analyze verify warns: $verify"
# Exposure 0 (locked down) .. 10 (unprotected); a plain service is ~9.6.
systemd-analyze security --offline=true --threshold=25 "$unit_dir/rosterd.service" \
  >"$work/security.log" 2>&1 ||
  fail "sandbox too weak: $(grep 'Overall exposure' "$work/security.log")"

# --- 4. Install into a throwaway root ----------------------------------------------------------
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
touch "$root/var/lib/dpkg/status"
dpkg_root=(dpkg --root="$root" --log="$root/var/log/dpkg.log" --force-script-chrootless
  --force-depends)
"${dpkg_root[@]}" -i "$deb" >"$work/install.log" 2>&1 || fail "dpkg -i: $(cat "$work/install.log")"
[[ $(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' roster) == "install ok installed" ]] ||
  fail "not installed: $(cat "$work/install.log")"
# postinst made the root-only configuration directory.
[[ $(stat -c %a "$root/etc/roster") == 700 ]] || fail "/etc/roster mode $(stat -c %a "$root/etc/roster")"

# --- 5. Run what was installed -----------------------------------------------------------------
rosterd="$root/usr/bin/rosterd"
rosterctl="$root/usr/bin/rosterctl"
out=$("$rosterd" --version 2>&1) || fail "rosterd --version exited $?: $out"
[[ "$out" == "rosterd version $version"* ]] || fail "rosterd --version: $out"
out=$("$rosterctl" --version) || fail "rosterctl --version exited $?"
[[ "$out" == "rosterctl version $version"* ]] || fail "rosterctl --version: $out"

# Every flag the example sets (commented ones too) is one of rosterd's. rosterd refuses an
# unknown name on a flagfile line (server/flags.h, CheckFlagfiles), but not on a commented one,
# which an operator uncomments later.
known=$("$rosterd" --helpxml 2>/dev/null | grep -o '<name>[^<]*</name>' | sed 's/<[^>]*>//g') || true
grep -q '^registry$' <<<"$known" || fail "rosterd --helpxml lists no flags"
set_flags=$(grep -oE '^#?--[a-z_0-9]+' "$root/usr/share/roster/examples/rosterd.flags" | sed 's/^#\?--//')
while read -r flag; do
  grep -qx "$flag" <<<"$known" || fail "the example flagfile sets --$flag, which rosterd does not have"
done <<<"$set_flags"
# The example flagfile as shipped must be accepted; only where it points is overridden.
"$rosterd" --flagfile="$root/usr/share/roster/examples/rosterd.flags" --registry=memory:// \
  --listen=127.0.0.1:0 --port_file="$work/port" --metrics_listen= >"$work/rosterd.log" 2>&1 &
rosterd_pid=$!
deadline=$((SECONDS + 20))
until [[ -s "$work/port" ]]; do
  kill -0 "$rosterd_pid" 2>/dev/null || fail "rosterd exited: $(tail -20 "$work/rosterd.log")"
  ((SECONDS < deadline)) || fail "rosterd wrote no port file in 20 s: $(tail -20 "$work/rosterd.log")"
  sleep 0.1 # polling the condition above, bounded by the deadline
done
port=$(cat "$work/port")
out=$("$rosterctl" --target="127.0.0.1:$port" --timeout_ms=10000 --output=json groups 2>&1) ||
  fail "rosterctl groups against the installed rosterd: $out"
/usr/bin/python3 -c 'import json, sys; json.loads(sys.argv[1])["meta"]["instanceId"]' "$out" ||
  fail "rosterctl --output=json groups: $out"
kill -TERM "$rosterd_pid"
status=0
wait "$rosterd_pid" || status=$?
rosterd_pid=""
((status == 0)) || fail "rosterd exited $status on SIGTERM: $(tail -20 "$work/rosterd.log")"

out=$(bash --norc --noprofile -c 'source "$1" && complete -p rosterctl' _ \
  "$root/usr/share/bash-completion/completions/rosterctl") || fail "completion: $out"
[[ "$out" == "complete -F _rosterctl rosterctl" ]] || fail "completion registers: $out"

# --- 6. Purge ----------------------------------------------------------------------------------
"${dpkg_root[@]}" --purge roster >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.log")"
[[ ! -e "$root/usr/bin/rosterd" ]] || fail "rosterd left after purge"
[[ ! -e "$root/etc/roster" ]] || fail "/etc/roster (empty) left after purge"
echo "package_test: OK: $(basename "$deb"), Depends: $depends"
