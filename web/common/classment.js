// classment.js: the browser client of the Classment socket API (docs/protocol.md), shared by
// the web pages. One WebSocket to /v1/ws (subprotocol classment.v1, one msgpack map per
// binary frame), requests as Promises, server events as listeners, and a connection that
// heals itself: reconnect with capped, jittered back-off, then log in again with the session
// token kept in localStorage (auth.resume).
//
// Needs the vendored msgpack UMD build loaded first by a classic <script> (global
// `MessagePack`); no other dependency, no build step.
//
//   import { Classment } from "/common/classment.js";
//   const cm = new Classment({ onState: (s) => ..., app: "parent" });
//   cm.on("session", (user) => ...);      // logged in (user) or out (null)
//   cm.on("ready", (user) => ...);        // after every (re)connect, once logged in or not
//   cm.on("trip.pos", (data) => ...);     // any server event by name
//   cm.start();
//   await cm.requestCode(phone); await cm.verify(phone, code);
//   const trips = await cm.call("trip.mine");

const SUBPROTOCOL = "classment.v1";
const TOKEN_KEY = "classment.token";

// Back-off between reconnect attempts: doubles from MIN to MAX, each delay drawn at random
// between half and all of it, so that the phones of a whole school do not come back in step
// after a server restart.
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;

// A reply that does not come within this time fails the call (the connection is then
// suspected dead and replaced).
const CALL_TIMEOUT_MS = 20000;

// The server pings quiet connections, but a browser does not show those pings to the page,
// and a phone that loses its network may not notice for minutes. So when nothing has arrived
// for LIVENESS_MS the client sends sys.ping itself; no answer within PING_TIMEOUT_MS means the
// connection is dead and is replaced.
const LIVENESS_MS = 25000;
const PING_TIMEOUT_MS = 10000;

// Close code the server uses when the session ended (logout elsewhere, revoked, expired).
const CLOSE_SESSION_ENDED = 4001;

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/v1/ws`;
}

// localStorage can throw (private modes, disabled storage): the session then lasts as long as
// the page.
function storage() {
  const mem = new Map();
  return {
    get(k) {
      try { return localStorage.getItem(k); } catch { return mem.get(k) ?? null; }
    },
    set(k, v) {
      try { localStorage.setItem(k, v); } catch { mem.set(k, v); }
    },
    remove(k) {
      try { localStorage.removeItem(k); } catch { mem.delete(k); }
    },
  };
}

// Every failure a call rejects with has this shape; local failures use the codes
// "offline" (not connected), "timeout" and "unavailable" (connection lost mid-call).
export class ClassmentError extends Error {
  constructor({ code, message, field, retry_after_s }) {
    super(message || code);
    this.code = code;
    this.field = field;
    this.retry_after_s = retry_after_s;
  }
}

export class Classment {
  constructor(opts = {}) {
    this.url = opts.url || defaultUrl();
    this.app = opts.app || "web";
    this.store = storage();
    this.tokenKey = opts.tokenKey || TOKEN_KEY;
    this.state = "offline";        // connecting | online | offline
    this.user = null;              // {id, name, role, school} once logged in
    this.hello = null;             // the server's hello data
    this.clockOffsetMs = 0;        // server clock minus ours, from sys.ping at each connect
    this._onState = opts.onState || null;
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map();     // id -> {resolve, reject, timer}
    this._waiting = [];            // calls made while not ready: sent once ready
    this._listeners = new Map();
    this._attempt = 0;
    this._retryTimer = 0;
    this._liveTimer = 0;
    this._lastRx = 0;
    this._ready = false;
    this._started = false;
  }

  // ---- public API -----------------------------------------------------------------------

  start() {
    if (this._started) return;
    this._started = true;
    // Come back at once when the phone regains its network or the page is shown again,
    // instead of waiting out the back-off.
    // The browser's word that the network is gone ends the socket at once (it may otherwise
    // linger half-open); its word that the network is back reconnects without waiting.
    addEventListener("online", () => this._reconnectNow());
    addEventListener("offline", () => this._drop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this._reconnectNow();
    });
    this._connect();
  }

  hasToken() {
    return !!this.store.get(this.tokenKey);
  }

  // Server time now, in ms since the epoch (positions carry the server's or driver's clock).
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }

  on(ev, fn) {
    if (!this._listeners.has(ev)) this._listeners.set(ev, new Set());
    this._listeners.get(ev).add(fn);
    return () => this._listeners.get(ev).delete(fn);
  }

  // Resolves with the reply's data, rejects with a ClassmentError. A call made while the
  // connection is down waits (up to CALL_TIMEOUT_MS) until it is back and logged in again.
  call(op, args = {}) {
    return new Promise((resolve, reject) => {
      const req = { op, args, resolve, reject };
      req.timer = setTimeout(() => {
        const i = this._waiting.indexOf(req);
        if (i >= 0) this._waiting.splice(i, 1);
        reject(new ClassmentError({ code: "offline", message: "not connected" }));
      }, CALL_TIMEOUT_MS);
      if (this._ready) this._send(req);
      else this._waiting.push(req);
    });
  }

  // Sends {op, args} without an id: fire and forget, no reply; a refusal comes back as an
  // `error` event naming op. Returns false, sending nothing, unless the connection is ready
  // and the browser holds nothing unsent for it, so a caller that always sends its newest
  // value (a bus position) never builds a backlog behind a stalled network.
  fire(op, args = {}) {
    const ws = this._ws;
    if (!this._ready || !ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 0) {
      return false;
    }
    ws.send(MessagePack.encode({ op, args }, { ignoreUndefined: true }));
    return true;
  }

  // True while connected, logged in again after a reconnect, and not told by the browser
  // that the network is gone.
  get usable() {
    const ws = this._ws;
    return this._ready && !!ws && ws.readyState === WebSocket.OPEN && navigator.onLine !== false;
  }

  requestCode(phone) {
    return this.call("auth.otp.request", { phone });
  }

  async verify(phone, code) {
    const data = await this.call("auth.otp.verify", {
      phone, code, device: { type: "web", app: this.app },
    });
    this.store.set(this.tokenKey, data.token);
    this._setUser(data.user);
    return data.user;
  }

  async logout() {
    try {
      if (this._ready && this.user) await this.call("auth.logout");
    } catch { /* the session ends locally anyway */ }
    this.store.remove(this.tokenKey);
    this._setUser(null);
  }

  // ---- connection -----------------------------------------------------------------------

  _setState(s) {
    if (s === this.state) return;
    this.state = s;
    if (this._onState) this._onState(s);
    this._emit("state", s);
  }

  _setUser(user) {
    const changed = (user && user.id) !== (this.user && this.user.id);
    this.user = user;
    if (changed) this._emit("session", user);
  }

  _emit(ev, data) {
    const set = this._listeners.get(ev);
    if (!set) return;
    for (const fn of [...set]) {
      try { fn(data); } catch (e) { console.error(e); }
    }
  }

  _connect() {
    clearTimeout(this._retryTimer);
    this._retryTimer = 0;
    this._setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch {
      this._scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    ws.onmessage = (e) => this._onFrame(e.data);
    ws.onclose = (e) => this._onClose(ws, e.code);
    // onerror is always followed by onclose, which does the work.
  }

  _reconnectNow() {
    if (!this._started || this._ws) return;
    this._attempt = 0;
    this._connect();
  }

  // Drop the current socket without waiting for a closing handshake that a dead network would
  // never complete.
  _drop() {
    const ws = this._ws;
    if (!ws) return;
    try { ws.close(); } catch { /* already closing */ }
    this._onClose(ws, 1006);
  }

  _onClose(ws, code) {
    if (ws !== this._ws) return;   // an old socket we already gave up on
    ws.onmessage = ws.onclose = null;
    this._ws = null;
    this._ready = false;
    clearTimeout(this._liveTimer);
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new ClassmentError({ code: "unavailable", message: "connection lost" }));
    }
    this._pending.clear();
    if (code === CLOSE_SESSION_ENDED) {
      this.store.remove(this.tokenKey);
      this._setUser(null);
    }
    this._setState("offline");
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._retryTimer) return;
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this._attempt);
    this._attempt = Math.min(this._attempt + 1, 16);
    const delay = cap / 2 + Math.random() * cap / 2;
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _onFrame(buf) {
    this._lastRx = Date.now();
    if (typeof buf === "string") return;   // the server sends binary frames only
    let m;
    try {
      m = MessagePack.decode(new Uint8Array(buf));
    } catch {
      return;
    }
    if (!m || typeof m !== "object") return;
    if (m.ev !== undefined) {
      if (m.ev === "hello") this._onHello(m.data || {});
      else this._emit(m.ev, m.data || {});
      return;
    }
    const p = this._pending.get(m.id);
    if (!p) return;
    this._pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.data);
    else p.reject(new ClassmentError(m.error || { code: "internal" }));
  }

  _send(req) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      clearTimeout(req.timer);
      req.reject(new ClassmentError({ code: "offline", message: "not connected" }));
      return;
    }
    const id = this._nextId++;
    clearTimeout(req.timer);
    req.timer = setTimeout(() => {
      if (!this._pending.delete(id)) return;
      req.reject(new ClassmentError({ code: "timeout", message: "no answer" }));
      this._drop();
    }, CALL_TIMEOUT_MS);
    this._pending.set(id, req);
    ws.send(MessagePack.encode({ id, op: req.op, args: req.args }, { ignoreUndefined: true }));
  }

  // Internal request on the current socket, bypassing the waiting list.
  _rawCall(op, args = {}) {
    return new Promise((resolve, reject) => this._send({ op, args, resolve, reject }));
  }

  async _onHello(data) {
    this.hello = data;
    const ws = this._ws;
    // Log in again with the kept token before anything waiting is sent.
    const token = this.store.get(this.tokenKey);
    if (token) {
      try {
        const r = await this._rawCall("auth.resume", { token });
        this._setUser(r.user);
      } catch (e) {
        if (ws !== this._ws) return;
        if (e.code === "unauthenticated") {
          this.store.remove(this.tokenKey);
          this._setUser(null);
        } else {
          // rate_limited, unavailable...: try again later on a fresh connection.
          const wait = (e.retry_after_s || 0) * 1000;
          this._drop();
          if (wait) {
            clearTimeout(this._retryTimer);
            this._retryTimer = setTimeout(() => this._connect(), wait);
          }
          return;
        }
      }
    } else {
      this._setUser(null);
    }
    if (ws !== this._ws) return;
    this._ready = true;
    this._attempt = 0;
    this._setState("online");
    this._watchLiveness();
    this._syncClock();
    for (const req of this._waiting.splice(0)) this._send(req);
    this._emit("ready", this.user);
  }

  async _syncClock() {
    try {
      const t0 = Date.now();
      const { now } = await this._rawCall("sys.ping");
      this.clockOffsetMs = now - (t0 + Date.now()) / 2;
    } catch { /* keep the old offset */ }
  }

  _watchLiveness() {
    clearTimeout(this._liveTimer);
    const heartbeat = Math.min(LIVENESS_MS, ((this.hello && this.hello.heartbeat_s) || 30) * 1000);
    this._liveTimer = setTimeout(async () => {
      if (!this._ready) return;
      if (Date.now() - this._lastRx >= heartbeat) {
        const ws = this._ws;
        const t = setTimeout(() => { if (ws === this._ws) this._drop(); }, PING_TIMEOUT_MS);
        try { await this._rawCall("sys.ping"); } catch { /* dropped below or already */ }
        clearTimeout(t);
      }
      if (this._ready) this._watchLiveness();
    }, heartbeat / 2);
  }
}
