#!/usr/bin/env bash
# `meson install` into a scratch DESTDIR: the programs, web/, sql/ and the systemd unit land
# where the unit expects them, the unit carries its hardening, and the installed classmentd,
# started with the unit's environment, migrates from the installed sql/ and serves the
# installed web/ (so it needs nothing from the source tree).
#
#   check_install.sh BUILD_DIR PREFIX BINDIR DATADIR
set -euo pipefail
build=$1 prefix=$2 bindir=$3 datadir=$4
: "${CLASSMENT_TEST_PGHOST:?set by tools/classment test}" "${CLASSMENT_TEST_PGPORT:?}"
: "${CLASSMENT_TEST_PGUSER:?}" "${CLASSMENT_TEST_TEMPLATE:?}"
dest=$(mktemp -d /tmp/cm-install.XXXXXX)
db=t_install_$$
pid=""
psqlq() {
  psql -qAt -h "$CLASSMENT_TEST_PGHOST" -p "$CLASSMENT_TEST_PGPORT" -U "$CLASSMENT_TEST_PGUSER" \
    -d postgres -c "$1"
}
cleanup() {
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  psqlq "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf -- "$dest"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >"$dest.log" 2>&1 ||
  { cat -- "$dest.log"; rm -f -- "$dest.log"; fail "meson install failed"; }
rm -f -- "$dest.log"
root=$dest$prefix
unit=$root/lib/systemd/system/classmentd.service

for f in "$bindir/classmentd" "$bindir/classment-admin"; do
  [[ -x $dest$f ]] || fail "$f is not installed"
done
for f in "$datadir/classment/web/index.html" "$datadir/classment/sql/0001_postgis.sql" \
  "$datadir/classment/classmentd.env.example" "$prefix/lib/sysusers.d/classment.conf" \
  "$prefix/lib/systemd/system/classmentd.service"; do
  [[ -f $dest$f ]] || fail "$f is not installed"
done
# Every migration and web file of the source tree, nothing left behind.
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
for d in web sql; do
  diff -r -q -- "$src/$d" "$dest$datadir/classment/$d" >/dev/null ||
    fail "$datadir/classment/$d differs from $d/"
done

# The unit: the installed paths and the hardening it promises.
grep -qxF "ExecStart=$bindir/classmentd" "$unit" || fail "ExecStart is not $bindir/classmentd"
for line in "Environment=CLASSMENT_WEB_ROOT=$datadir/classment/web" \
  "Environment=CLASSMENT_SQL_DIR=$datadir/classment/sql" \
  "EnvironmentFile=/etc/classment/classmentd.env" "User=classment" "ProtectSystem=strict" \
  "ProtectHome=yes" "PrivateTmp=yes" "NoNewPrivileges=yes" "CapabilityBoundingSet=" \
  "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "SystemCallFilter=@system-service"; do
  grep -qxF -- "$line" "$unit" || fail "the unit lacks '$line'"
done
if grep -q '^ReadWritePaths=' "$unit"; then fail "the unit makes a path writable"; fi
if grep -q '@[A-Z_]*@' "$unit"; then fail "the unit has an unfilled @VARIABLE@"; fi
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart exists: point it into the DESTDIR copy.
  sed "s|^ExecStart=$bindir/|ExecStart=$dest$bindir/|" "$unit" >"$dest/classmentd.service"
  out=$(systemd-analyze verify "$dest/classmentd.service" 2>&1) || true
  # Outside a booted systemd (containers, CI) verify may also complain about the manager or
  # other units; only lines about this unit (bad values, unknown keys) count.
  bad=$(grep -F 'classmentd.service' <<<"$out" || true)
  [[ -z $bad ]] || fail "systemd-analyze verify: $bad"
fi

# The installed server with the unit's environment, run from / so that nothing is found
# relative to the source tree or the current folder.
env_of_unit() { sed -n 's/^Environment=\(CLASSMENT_[A-Z_]*\)=\(.*\)$/\1=\2/p' "$unit"; }
web_root=$(env_of_unit | sed -n 's/^CLASSMENT_WEB_ROOT=//p')
sql_dir=$(env_of_unit | sed -n 's/^CLASSMENT_SQL_DIR=//p')
psqlq "CREATE DATABASE $db TEMPLATE $CLASSMENT_TEST_TEMPLATE"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
conninfo="host=$CLASSMENT_TEST_PGHOST port=$CLASSMENT_TEST_PGPORT user=$CLASSMENT_TEST_PGUSER"
(cd / && CLASSMENT_LISTEN=127.0.0.1:$port \
  CLASSMENT_DB="$conninfo dbname=$db" \
  CLASSMENT_ENV=development CLASSMENT_KEY_FILE=$dest/master.key \
  CLASSMENT_WEB_ROOT=$dest$web_root CLASSMENT_SQL_DIR=$dest$sql_dir \
  exec "$dest$bindir/classmentd" >"$dest/server.log" 2>&1) &
pid=$!
served=""
for ((i = 0; i < 100; i++)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat -- "$dest/server.log"
    fail "the installed classmentd exited"
  fi
  if served=$(curl -sf --max-time 1 "http://127.0.0.1:$port/"); then break; fi
  sleep 0.1
done
[[ -n $served ]] || { cat -- "$dest/server.log"; fail "the installed classmentd does not serve /"; }
[[ $served == "$(<"$dest$web_root/index.html")" ]] ||
  fail "/ is not the installed web/index.html"
n_sql=$(find "$dest$sql_dir" -name '*.sql' | wc -l)
n_applied=$(psql -qAt -d "$conninfo dbname=$db" -c 'SELECT count(*) FROM schema_migrations' \
  2>/dev/null || echo 0)
[[ $n_applied == "$n_sql" ]] || fail "$n_applied of $n_sql installed migrations applied"
echo "ok: installed into $dest, served and migrated from there"
