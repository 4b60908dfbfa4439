// driver.js: the bus driver's page. Logs in (phone, then SMS code), starts a trip on a route
// picked from the school's routes (route.list),
// streams the phone's GPS as fire-and-forget trip.pos frames at most once per server interval
// (only the newest fix is ever sent, never a backlog), keeps the screen awake, shows what the
// server accepted or refused, and ends the trip after a confirmation.
import { S } from "/driver/strings.js";
import * as lib from "/driver/link.js";

// The server refuses a frame that arrives less than CLASSMENT_GPS_MIN_INTERVAL_MS (500 ms by
// default, measured on the server's clock) after the previous accepted one. The API does not
// publish the value, so the page starts at the default plus a margin for network jitter and
// slows down by a step on every rate_limited refusal (the server may be configured slower).
const MIN_INTERVAL_MS = 500;
const JITTER_MS = 100;
const SLOW_STEP_MS = 500;
const MAX_INTERVAL_MS = 5000;
// After this many accepted frames in a row the interval comes back down a step (one refusal,
// e.g. right after a reload, must not slow the whole trip).
const CALM_FRAMES = 20;
// A fix older than this is not sent: the server refuses ts older than
// CLASSMENT_GPS_MAX_AGE_S (120 s), and a newer fix is coming anyway.
const MAX_FIX_AGE_MS = 110 * 1000;
// A fire-and-forget frame has no reply: it counts as accepted when no refusal for it came
// back within this time on the same, still open connection (refusals arrive in order).
const CONFIRM_MS = 1500;
const RECENT_KEY = "classment.driver.routes";
const RECENT_MAX = 5;
// route.list pages by id; a school has a handful of routes, this bounds a runaway loop.
const ROUTES_PAGE = 500;
const ROUTES_MAX_PAGES = 10;

const $ = (id) => document.getElementById(id);

const st = {
  user: null,
  phone: "",
  trip: null,          // {id, route: {id, name}}
  newest: null,        // the newest fix not yet sent
  lastSentTs: 0,
  lastSendAt: 0,
  interval: MIN_INTERVAL_MS + JITTER_MS,
  timer: 0,
  watch: null,
  pending: [],         // frames sent, neither confirmed nor refused: {ts, timer}
  accepted: 0,
  calm: 0,             // frames accepted since the last refusal
  lastAcceptedAt: null,
  wake: null,
  ready: false,        // connected and logged in
  routes: null,        // the school's routes [{id, name}] once loaded, else null
  loadingRoutes: false,
};

// ---- text ------------------------------------------------------------------------------

function lookup(path) {
  return path.split(".").reduce((o, k) => (o == null ? o : o[k]), S);
}

function fillStrings() {
  for (const el of document.querySelectorAll("[data-s]")) {
    const v = lookup(el.dataset.s);
    if (typeof v === "string") el.textContent = v;
  }
  $("last-accepted").textContent = S.trip.never;
}

function say(id, text) {
  $(id).textContent = text || "";
}

function show(section) {
  for (const id of ["login", "pick", "trip"]) $(id).hidden = id !== section;
  // Logging out mid-trip would silently stop the positions: the trip is ended first.
  $("logout").hidden = section !== "pick";
  const first = { login: $("code-form").hidden ? "phone" : "code", pick: "start", trip: "end" }[section];
  if (first && document.activeElement === document.body) $(first).focus();
}

function timeText(d) {
  return d.toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
}

// ---- connection ------------------------------------------------------------------------

function onConnState(state) {
  const el = $("conn");
  el.textContent = S.conn[state] || "";
  el.classList.toggle("offline", state === "offline");
  const wasReady = st.ready;
  st.ready = state === "online" && st.user !== null;
  if (!st.ready) {
    // Frames in flight on a dropped connection are neither confirmed nor refused.
    dropPending();
  }
  if (st.trip) showSending();
  if (st.ready && !wasReady) {
    pump();
    // The list could not load while offline: it loads as soon as the connection is back.
    if (!st.trip && st.user && !$("pick").hidden && !st.routes) loadRoutes();
  }
}

async function afterLogin(user) {
  if (user.role !== "driver") {
    say("login-msg", S.login.notDriver);
    await lib.logout().catch(() => {});
    st.user = null;
    show("login");
    return;
  }
  st.user = user;
  st.ready = lib.isOnline();
  say("login-msg", "");
  await loadMine();
}

// The driver's active trip, if any (after a reload or a crash of the phone's browser): the
// page carries straight on with it.
async function loadMine() {
  let mine = [];
  try {
    mine = await lib.call("trip.mine");
  } catch (e) {
    if (e.code === "unauthenticated") return toLogin();
  }
  const active = (mine || []).find((t) => t.status === "active");
  if (active) {
    remember(active.route);
    beginTrip({ id: active.trip, route: active.route });
  } else {
    st.trip = null;
    toPick();
  }
}

function toLogin() {
  stopStreaming();
  st.user = null;
  st.trip = null;
  $("code-form").hidden = true;
  $("phone-form").hidden = false;
  show("login");
}

// ---- login -----------------------------------------------------------------------------

function loginError(e) {
  if (e.code === "rate_limited") return S.login.waitSeconds(e.retry_after_s || 30);
  if (e.code === "unauthenticated") return S.login.wrongCode;
  if (e.code === "forbidden") return S.login.suspended;
  if (e.code === "bad_request" && e.field === "phone") return S.login.badPhone;
  if (e.code === "bad_request" && e.field === "code") return S.login.badCode;
  return S.login.failed;
}

async function onSendCode(ev) {
  ev.preventDefault();
  const phone = $("phone").value.trim();
  $("send-code").disabled = true;
  try {
    await lib.requestCode(phone);
    st.phone = phone;
    $("code-form").hidden = false;
    say("login-msg", S.login.codeSent);
    $("code").focus();
  } catch (e) {
    say("login-msg", loginError(e));
  } finally {
    $("send-code").disabled = false;
  }
}

async function onVerify(ev) {
  ev.preventDefault();
  const code = $("code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) return say("login-msg", S.login.badCode);
  $("verify").disabled = true;
  try {
    const user = await lib.verifyCode(st.phone || $("phone").value.trim(), code);
    $("code").value = "";
    await afterLogin(user);
  } catch (e) {
    say("login-msg", loginError(e));
  } finally {
    $("verify").disabled = false;
  }
}

async function onLogout() {
  stopStreaming();
  await lib.logout().catch(() => {});
  toLogin();
}

// ---- routes ----------------------------------------------------------------------------

// The routes this phone started, newest first: the newest is the default choice in the list.
function recentRoutes() {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(v) ? v.filter((r) => r && Number.isInteger(r.id) && r.id > 0) : [];
  } catch {
    return [];
  }
}

function remember(route) {
  if (!route || !route.id) return;
  const list = recentRoutes().filter((r) => r.id !== route.id);
  list.unshift({ id: route.id, name: typeof route.name === "string" ? route.name : "" });
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
  } catch { /* only the default choice is lost */ }
}

// Shows the route picker, with a fresh list (routes change in the school office).
function toPick(msg) {
  show("pick");
  say("pick-msg", msg || "");
  loadRoutes();
}

// Every route of the driver's school (route.list is scoped to the caller's school), in pages.
async function loadRoutes() {
  if (st.loadingRoutes) return;
  st.loadingRoutes = true;
  st.routes = null;
  $("route-list").replaceChildren();
  $("routes-retry").hidden = true;
  $("start").disabled = true;
  say("routes-msg", S.pick.loading);
  try {
    const all = [];
    let after = 0;
    for (let i = 0; i < ROUTES_MAX_PAGES; i++) {
      const args = { limit: ROUTES_PAGE };
      if (after) args.after = after;
      const page = (await lib.call("route.list", args)) || [];
      all.push(...page);
      if (page.length < ROUTES_PAGE) break;
      after = page[page.length - 1].id;
    }
    st.routes = all.map((r) => ({ id: r.id, name: typeof r.name === "string" ? r.name : "" }));
    renderRoutes();
  } catch (e) {
    if (e && e.code === "unauthenticated") return toLogin();
    say("routes-msg", S.pick.loadFailed);
    $("routes-retry").hidden = false;
  } finally {
    st.loadingRoutes = false;
  }
}

// One big radio button per route; the route this phone last started is chosen, else the first.
function renderRoutes() {
  const routes = st.routes || [];
  const box = $("route-list");
  box.replaceChildren();
  say("routes-msg", routes.length ? "" : S.pick.noRoutes);
  $("start").disabled = routes.length === 0;
  const names = new Map();
  for (const r of routes) names.set(r.name, (names.get(r.name) || 0) + 1);
  const last = recentRoutes().find((x) => routes.some((r) => r.id === x.id));
  const chosen = last ? last.id : routes.length ? routes[0].id : 0;
  for (const r of routes) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "route";
    input.value = String(r.id);
    input.checked = r.id === chosen;
    const text = document.createElement("span");
    text.textContent = r.name && names.get(r.name) > 1
      ? S.pick.routeButtonSameName(r) : S.pick.routeButton(r);
    label.append(input, text);
    box.append(label);
  }
  const checked = box.querySelector("input:checked");
  if (checked && document.activeElement === document.body) checked.focus();
}

async function onStartForm(ev) {
  ev.preventDefault();
  const picked = document.querySelector('#route-list input[name="route"]:checked');
  const id = picked ? Number(picked.value) : 0;
  if (!Number.isInteger(id) || id <= 0) return say("pick-msg", S.pick.noRoute);
  await startTrip(id);
}

async function startTrip(routeId) {
  say("pick-msg", "");
  for (const b of document.querySelectorAll("#pick button")) b.disabled = true;
  let ok = false;
  try {
    const { trip } = await lib.call("trip.start", { route: routeId });
    const route = (st.routes || []).find((r) => r.id === routeId) || { id: routeId, name: "" };
    remember(route);
    ok = true;
    beginTrip({ id: trip, route });
  } catch (e) {
    if (e.code === "not_found" || (e.code === "bad_request" && e.field === "route")) {
      // Deleted in the office since the list was loaded.
      say("pick-msg", S.pick.unknownRoute);
      loadRoutes();
    } else if (e.code === "conflict") {
      say("pick-msg", S.pick.alreadyActive);
      await loadMine();
    } else if (e.code === "unauthenticated") {
      toLogin();
    } else {
      say("pick-msg", S.pick.failed);
    }
  } finally {
    for (const b of document.querySelectorAll("#pick button")) b.disabled = false;
    // Nothing to start while the list is empty or still loading.
    if (!ok) $("start").disabled = !st.routes || st.routes.length === 0;
  }
}

// ---- the trip --------------------------------------------------------------------------

function beginTrip(trip) {
  st.trip = trip;
  st.newest = null;
  st.lastSentTs = 0;
  // The first frame waits one interval too: after a reload the previous page's last frame
  // may have been accepted a moment ago, and the server counts from it.
  st.lastSendAt = Date.now();
  st.interval = MIN_INTERVAL_MS + JITTER_MS;
  st.accepted = 0;
  st.calm = 0;
  st.lastAcceptedAt = null;
  say("trip-route", S.trip.route(trip.route.name || S.pick.routeButton({ id: trip.route.id })));
  say("accepted", "0");
  say("last-accepted", S.trip.never);
  say("refusal", "");
  say("notices", "");
  show("trip");
  startGps();
  keepAwake();
  showSending();
}

function stopStreaming() {
  if (st.watch !== null && navigator.geolocation) navigator.geolocation.clearWatch(st.watch);
  st.watch = null;
  clearTimeout(st.timer);
  st.timer = 0;
  st.newest = null;
  dropPending();
  releaseWake();
}

function showSending() {
  const el = $("sending");
  el.textContent = st.ready ? S.trip.sending : S.trip.paused;
  el.classList.toggle("bad", !st.ready);
}

function startGps() {
  const gps = $("gps");
  if (!("geolocation" in navigator)) {
    gps.textContent = S.trip.gpsUnsupported;
    gps.classList.add("bad");
    return;
  }
  gps.textContent = S.trip.gpsWaiting;
  st.watch = navigator.geolocation.watchPosition(onFix, onGpsError, {
    enableHighAccuracy: true,
    maximumAge: 0,
    timeout: 20000,
  });
}

function onFix(p) {
  const c = p.coords;
  const gps = $("gps");
  gps.textContent = S.trip.gpsOk(c.accuracy || 0);
  gps.classList.remove("bad");
  const fix = { lat: c.latitude, lon: c.longitude, ts: Math.round(p.timestamp) };
  // Optional values only when the phone knows them (heading is NaN when standing still).
  if (Number.isFinite(c.speed) && c.speed >= 0 && c.speed <= 200) fix.spd = c.speed;
  if (Number.isFinite(c.heading) && c.heading >= 0 && c.heading <= 360) fix.hdg = c.heading;
  if (Number.isFinite(c.accuracy) && c.accuracy >= 0 && c.accuracy <= 100000) fix.acc = c.accuracy;
  if (fix.ts <= st.lastSentTs) return;
  st.newest = fix; // replaces any unsent older fix: never a backlog
  pump();
}

function onGpsError(e) {
  const gps = $("gps");
  gps.textContent =
    e.code === 1 ? S.trip.gpsDenied : e.code === 2 ? S.trip.gpsUnavailable : S.trip.gpsTimeout;
  gps.classList.add("bad");
}

// Sends the newest fix when the connection is up and the interval has passed; otherwise waits
// (a timer for the interval, onConnState for the connection).
function pump() {
  if (!st.trip || !st.ready || !st.newest) return;
  const wait = st.lastSendAt + st.interval - Date.now();
  if (wait > 0) {
    if (!st.timer) {
      st.timer = setTimeout(() => {
        st.timer = 0;
        pump();
      }, wait);
    }
    return;
  }
  const fix = st.newest;
  st.newest = null;
  if (fix.ts <= st.lastSentTs || lib.serverNow() - fix.ts > MAX_FIX_AGE_MS) return;
  if (!lib.fire("trip.pos", { trip: st.trip.id, ...fix })) {
    // Not sent: the connection just went (onConnState pumps again) or the previous frame
    // still waits in the browser's buffer; try again after an interval unless a newer fix
    // has replaced this one by then.
    if (!st.newest) st.newest = fix;
    if (!st.timer) {
      st.timer = setTimeout(() => {
        st.timer = 0;
        pump();
      }, st.interval);
    }
    return;
  }
  st.lastSentTs = fix.ts;
  st.lastSendAt = Date.now();
  const frame = { ts: fix.ts, timer: 0 };
  frame.timer = setTimeout(() => confirm(frame), CONFIRM_MS);
  st.pending.push(frame);
}

function confirm(frame) {
  const i = st.pending.indexOf(frame);
  if (i < 0) return;
  st.pending.splice(i, 1);
  st.accepted += 1;
  st.lastAcceptedAt = new Date();
  st.calm += 1;
  if (st.calm >= CALM_FRAMES && st.interval > MIN_INTERVAL_MS + JITTER_MS) {
    st.interval = Math.max(st.interval - SLOW_STEP_MS, MIN_INTERVAL_MS + JITTER_MS);
    st.calm = 0;
  }
  say("accepted", String(st.accepted));
  say("last-accepted", timeText(st.lastAcceptedAt));
}

function dropPending() {
  for (const f of st.pending) clearTimeout(f.timer);
  st.pending = [];
}

// The words for a refusal of trip.pos: the server's own message when we know it (it tells the
// reasons of one field apart: a clock ahead, a late or an out-of-order position all name ts),
// else the refused value (`field`, on a bad_request: not_found and forbidden both name trip),
// else the code.
function refusalText(data) {
  const r = S.refusal;
  return r.byMessage[data.message] ||
    (data.code === "bad_request" && data.field && r.byField[data.field]) ||
    r.byCode[data.code] || r.other;
}

// An error event naming trip.pos: the refusal of the oldest frame still waiting.
function onErrorEvent(data) {
  if (!data || data.op !== "trip.pos" || !st.trip) return;
  const f = st.pending.shift();
  if (f) clearTimeout(f.timer);
  const r = S.refusal;
  const text = refusalText(data);
  say("refusal", `${text} (${r.at(timeText(new Date()))})`);
  st.calm = 0;
  if (data.code === "rate_limited") {
    st.interval = Math.min(st.interval + SLOW_STEP_MS, MAX_INTERVAL_MS);
  } else if (data.code === "not_found") {
    checkEnded();
  } else if (data.code === "unauthenticated") {
    toLogin();
  }
}

// trip.pos says the trip is not active: ended by the office or for idling. trip.mine decides.
async function checkEnded() {
  const id = st.trip && st.trip.id;
  try {
    const mine = await lib.call("trip.mine");
    if ((mine || []).some((t) => t.trip === id && t.status === "active")) return;
  } catch {
    return;
  }
  if (!st.trip || st.trip.id !== id) return;
  stopStreaming();
  st.trip = null;
  toPick(S.trip.endedElsewhere);
}

// ---- ending ----------------------------------------------------------------------------

function askEnd() {
  const d = $("confirm-end");
  if (typeof d.showModal === "function") {
    d.showModal();
    $("end-no").focus();
  } else if (window.confirm(S.trip.confirmTitle)) {
    endTrip();
  }
}

async function endTrip() {
  $("confirm-end").close?.();
  if (!st.trip) return;
  $("end").disabled = true;
  try {
    await lib.call("trip.end", { trip: st.trip.id });
  } catch (e) {
    if (e.code === "unauthenticated") return toLogin();
    if (e.code !== "conflict" && e.code !== "not_found") {
      say("refusal", S.trip.endFailed);
      return;
    }
  } finally {
    $("end").disabled = false;
  }
  stopStreaming();
  st.trip = null;
  toPick(S.trip.ended);
}

// ---- screen wake lock ------------------------------------------------------------------

async function keepAwake() {
  if (!st.trip || st.wake || document.visibilityState !== "visible") return;
  if (!("wakeLock" in navigator)) return showWake(false);
  try {
    st.wake = await navigator.wakeLock.request("screen");
    st.wake.addEventListener("release", () => {
      st.wake = null;
      showWake(false);
    });
    showWake(true);
  } catch {
    st.wake = null;
    showWake(false);
  }
}

function releaseWake() {
  const w = st.wake;
  st.wake = null;
  if (w) w.release().catch(() => {});
}

function showWake(on) {
  const el = $("wake");
  el.textContent = on ? S.trip.wakeOn : S.trip.wakeOff;
  el.classList.toggle("bad", !on);
}

// ---- start -----------------------------------------------------------------------------

async function main() {
  fillStrings();
  $("phone-form").addEventListener("submit", onSendCode);
  $("code-form").addEventListener("submit", onVerify);
  $("start-form").addEventListener("submit", onStartForm);
  $("routes-retry").addEventListener("click", loadRoutes);
  $("end").addEventListener("click", askEnd);
  $("end-yes").addEventListener("click", endTrip);
  $("end-no").addEventListener("click", () => $("confirm-end").close());
  $("logout").addEventListener("click", onLogout);
  document.addEventListener("visibilitychange", keepAwake);
  onConnState("connecting");
  lib.onState(onConnState);
  lib.onError(onErrorEvent);
  lib.onSessionEnd(toLogin);
  const user = await lib.start();
  if (user) await afterLogin(user);
  else show("login");
}

main();
