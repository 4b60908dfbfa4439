#!/usr/bin/env bash
# The parent and driver pages in a real (headless) Chromium against a real classmentd: a fresh
# database cloned from the test template, the demo school and route (classment-fixture demo),
# then tests/browser/faces.mjs drives a driver, the demo parent and a parent of another route.
# Fails (never skips) when Chromium, Node.js or tests/browser/node_modules is missing.
#
#   run.sh BUILD_DIR SOURCE_ROOT
set -euo pipefail
build=$1 src=$2
: "${CLASSMENT_TEST_PGHOST:?set by tools/classment test}" "${CLASSMENT_TEST_PGPORT:?}"
: "${CLASSMENT_TEST_PGUSER:?}" "${CLASSMENT_TEST_TEMPLATE:?}"
fail() { echo "FAIL: $*"; exit 1; }

chromium=${CLASSMENT_CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || fail "$chromium not found: install Debian's chromium (tools/classment test does)"
command -v node >/dev/null 2>&1 || fail "node not found: the browser tests need Node.js 20 or later"
[[ -f $src/tests/browser/node_modules/playwright-core/package.json ]] ||
  fail "tests/browser/node_modules is missing: run npm ci --prefix tests/browser (tools/classment test does)"
for exe in gateway/classmentd tools/classment-admin tools/classment-fixture; do
  [[ -x $build/$exe ]] || fail "$build/$exe is not built"
done

tmp=$(mktemp -d /tmp/cm-browser.XXXXXX)
db=t_browser_$$
pid=""
psqlq() {
  psql -X -qAt -v ON_ERROR_STOP=1 -h "$CLASSMENT_TEST_PGHOST" -p "$CLASSMENT_TEST_PGPORT" \
    -U "$CLASSMENT_TEST_PGUSER" "$@"
}
cleanup() {
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  psqlq -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf -- "$tmp"
}
trap cleanup EXIT
server_fail() {
  echo "--- last lines of the server's log"
  tail -n 40 -- "$tmp/server.log" || true
  fail "$@"
}

psqlq -d postgres -c "CREATE DATABASE $db TEMPLATE $CLASSMENT_TEST_TEMPLATE" >/dev/null
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
  console.log(s.address().port); s.close(); });')
base=http://127.0.0.1:$port
export CLASSMENT_DB="host=$CLASSMENT_TEST_PGHOST port=$CLASSMENT_TEST_PGPORT user=$CLASSMENT_TEST_PGUSER dbname=$db"
export CLASSMENT_KEY_FILE=$tmp/master.key
outbox=$tmp/sms-outbox.jsonl
: >"$outbox"

# No CLASSMENT_MAP_TILES: the pages must then load nothing from outside the server's origin.
env -u CLASSMENT_MAP_TILES -u CLASSMENT_MAP_ATTRIBUTION CLASSMENT_ENV=development \
  "CLASSMENT_LISTEN=127.0.0.1:$port" "CLASSMENT_SMS_OUTBOX=$outbox" \
  "CLASSMENT_WEB_ROOT=$src/web" "CLASSMENT_SQL_DIR=$src/sql" "$build/gateway/classmentd" </dev/null >"$tmp/server.log" 2>&1 &
pid=$!
up=0
for ((i = 0; i < 150; i++)); do
  kill -0 "$pid" 2>/dev/null || server_fail "classmentd exited"
  if curl -sf -o /dev/null --max-time 1 "$base/healthz"; then up=1; break; fi
  sleep 0.1
done
[[ $up -eq 1 ]] || server_fail "classmentd does not answer $base/healthz"

admin_phone=+919000000001
out=$("$build/tools/classment-admin" school create --name "Browser Test School" \
  --admin-name "Test Admin" --admin-phone "$admin_phone") || fail "classment-admin school create failed"
school=$(sed -n 's/.*"school": *\([0-9]*\).*/\1/p' <<<"$out")
[[ -n $school ]] || fail "no school id in: $out"
demo=$("$build/tools/classment-fixture" demo --school "$school") || fail "classment-fixture demo failed"
route=$(sed -n 's/.*"route": *\([0-9]*\).*/\1/p' <<<"$demo")
driver_phone=$(sed -n 's/.*"driver": *{"phone": *"\([^"]*\)".*/\1/p' <<<"$demo")
parent_phone=$(sed -n 's/.*"parents": *\[{"phone": *"\([^"]*\)".*/\1/p' <<<"$demo")
[[ -n $route && -n $driver_phone && -n $parent_phone ]] || fail "unexpected fixture output: $demo"

# The route's stops in riding order, and the stop where the first demo parent's child boards.
stops=$(psqlq -d "$db" -c "SELECT json_agg(json_build_object('id', id, 'seq', seq, 'name', name,
  'lat', ST_Y(location::geometry), 'lon', ST_X(location::geometry)) ORDER BY seq)
  FROM route_stops WHERE route_id = $route")
child_stop=$(psqlq -d "$db" -c "SELECT ra.stop_id FROM users u
  JOIN guardians g ON g.user_id = u.id JOIN route_assignments ra ON ra.student_id = g.student_id
  WHERE u.school_id = $school AND u.role = 'parent' AND ra.route_id = $route ORDER BY u.id LIMIT 1")
[[ -n $stops && -n $child_stop ]] || fail "no stops or no child's stop for route $route"

node -e '
const [file, base, outbox, route, driver, parent, admin, childStop, stops, shots] = process.argv.slice(1);
require("fs").writeFileSync(file, JSON.stringify({ base, outbox, route: +route, driverPhone: driver,
  parentPhone: parent, adminPhone: admin, childStop: +childStop, stops: JSON.parse(stops), shots },
  null, 1));
' "$tmp/config.json" "$base" "$outbox" "$route" "$driver_phone" "$parent_phone" "$admin_phone" \
  "$child_stop" "$stops" "$src/docs/screenshots"

rc=0
CLASSMENT_CHROMIUM=$chromium node "$src/tests/browser/faces.mjs" "$tmp/config.json" || rc=$?
if [[ $rc -ne 0 ]]; then
  server_fail "faces.mjs failed (exit $rc)"
fi
kill -0 "$pid" 2>/dev/null || server_fail "classmentd died during the browser test"
echo "ok: browser tests passed"
