#!/usr/bin/env bash
# CLASSMENT_TLS_CERT/KEY: the same port then speaks https:// (and wss://) only. Starts
# classmentd with a fresh self-signed certificate on a clone of the template database.
set -euo pipefail
: "${CLASSMENT_BIN:?}" "${CLASSMENT_TEST_PGHOST:?set by tools/classment test}"
: "${CLASSMENT_TEST_PGPORT:?}" "${CLASSMENT_TEST_PGUSER:?}" "${CLASSMENT_TEST_TEMPLATE:?}"
dir=$(mktemp -d /tmp/cm-tls.XXXXXX)
db=t_tls_$$
pid=""
psqlq() { psql -qAt -h "$CLASSMENT_TEST_PGHOST" -p "$CLASSMENT_TEST_PGPORT" -U "$CLASSMENT_TEST_PGUSER" -d postgres -c "$1"; }
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psqlq "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf -- "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server log"; cat "$dir/server.log"; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
psqlq "CREATE DATABASE $db TEMPLATE $CLASSMENT_TEST_TEMPLATE"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CLASSMENT_LISTEN=127.0.0.1:$port \
CLASSMENT_DB="host=$CLASSMENT_TEST_PGHOST port=$CLASSMENT_TEST_PGPORT user=$CLASSMENT_TEST_PGUSER dbname=$db" \
CLASSMENT_ENV=development CLASSMENT_KEY_FILE=$dir/master.key \
CLASSMENT_TLS_CERT=$dir/cert.pem CLASSMENT_TLS_KEY=$dir/key.pem \
  "$CLASSMENT_BIN" >"$dir/server.log" 2>&1 &
pid=$!

body=""
for _ in $(seq 1 100); do
  body=$(curl -sk --max-time 1 "https://127.0.0.1:$port/healthz" || true)
  [[ $body == ok ]] && break
  sleep 0.1
done
[[ $body == ok ]] || fail "https /healthz did not answer ok (got '$body')"
echo "ok 1 - https /healthz answers ok"

grep -q 'url=wss://' "$dir/server.log" || fail "the server did not announce a wss:// URL"
echo "ok 2 - the server announces wss://"

# A WebSocket upgrade over TLS with our subprotocol gets 101.
status=$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' --http1.1 \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: classment.v1' \
  "https://127.0.0.1:$port/v1/ws" || true)
[[ $status == 101 ]] || fail "wss upgrade answered $status, not 101"
echo "ok 3 - wss upgrade answers 101"

# Replies that pile up go out framed together in one write: over TLS too, whole and in order.
python3 "$(dirname -- "$0")/wss_burst.py" "$port" 500 ||
  fail "500 pings over wss: the replies did not all arrive whole and in order"
echo "ok 4 - 500 replies piled up over wss arrive whole and in order"

if curl -s --max-time 2 "http://127.0.0.1:$port/healthz" | grep -qx ok; then
  fail "plain http was served on the TLS port"
fi
echo "ok 5 - plain http is not served on the TLS port"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[[ $rc -eq 0 ]] || fail "exit status $rc after SIGTERM"
echo "ok 6 - clean exit after SIGTERM"
echo "6 passed, 0 failed"
