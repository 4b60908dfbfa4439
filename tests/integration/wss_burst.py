#!/usr/bin/env python3
"""wss_burst.py PORT N: over wss:// (any certificate), upgrades with classment.v1, sends N
sys.ping requests without reading, then reads until every reply has come. Passes (exit 0) when
the replies arrive whole, once each and in order: the server frames several of them into one
TLS write when they pile up. Standard library only (16_tls.sh runs it)."""
import base64, os, socket, ssl, struct, sys

port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: classment.v1\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]:
    sys.exit("no 101: %r" % head[:80])

def ping(i):
    # msgpack {"id": i (uint32), "op": "sys.ping"}
    body = b"\x82\xa2id\xce" + struct.pack(">I", i) + b"\xa2op\xa8sys.ping"
    mask = os.urandom(4)
    return bytes([0x82, 0x80 | len(body)]) + mask + bytes(b ^ mask[j % 4] for j, b in enumerate(body))

s.sendall(b"".join(ping(i) for i in range(1, n + 1)))

def frames():
    global buf
    while True:
        while len(buf) >= 2:
            op, ln, hdr = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if ln == 126:
                if len(buf) < 4:
                    break
                ln, hdr = struct.unpack(">H", buf[2:4])[0], 4
            elif ln == 127:
                if len(buf) < 10:
                    break
                ln, hdr = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < hdr + ln:
                break
            payload, buf = buf[hdr:hdr + ln], buf[hdr + ln:]
            yield op, payload
        data = s.recv(65536)
        if not data:
            sys.exit("connection ended early")
        buf += data

want = 1
for op, payload in frames():
    if op != 2:
        continue
    if b"\xa2ev" in payload:  # the hello event
        continue
    if b"\xa2id" not in payload:
        sys.exit("unexpected message: %r" % payload[:60])
    i = payload.index(b"\xa2id") + 3
    t = payload[i]
    if t < 0x80:
        got = t
    elif t == 0xCC:
        got = payload[i + 1]
    elif t == 0xCD:
        got = struct.unpack(">H", payload[i + 1:i + 3])[0]
    elif t == 0xCE:
        got = struct.unpack(">I", payload[i + 1:i + 5])[0]
    else:
        sys.exit("id of type %#x" % t)
    if got != want or b"\xa2ok\xc3" not in payload:
        sys.exit("reply %d: expected ok for id %d: %r" % (want, want, payload[:60]))
    want += 1
    if want > n:
        break
print("%d replies in order" % n)
