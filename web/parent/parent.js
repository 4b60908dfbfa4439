// parent.js: the parent's page. Log in (phone, then SMS code), then follow every active trip
// of one's children live: the bus moving on a map of its route, how old its position is, the
// trip's state and the time to the child's stop, with notices (and, when allowed, system
// notifications) as the bus approaches and reaches the stop. The session survives reloads and
// network drops (web/common/classment.js reconnects and resumes; this page then subscribes
// again).
import { Classment } from "/common/classment.js";
import { buildLogin, setupSession, showAppBox, showLoginBox } from "/common/login.js";
import { fillStrings } from "/common/text.js";
import { t } from "/parent/strings.js";

// Same figures as the server's defaults (README: CLASSMENT_STOP_RADIUS_M,
// CLASSMENT_STOP_APPROACH_S): within the radius the bus is at the stop, and at an ETA below
// the approach time it is "arriving".
const STOP_RADIUS_M = 60;
const APPROACH_S = 300;
// The server refuses positions older than 120 s, so an older one means the bus went quiet.
const STALE_S = 120;
// Floor of the speed used for ETAs, as the server's (a bus waiting at a light is not "never").
const MIN_SPEED_MPS = 3;
const SPEED_SMOOTHING = 0.3;
const COLOURS = ["#0d47a1", "#b71c1c", "#1b5e20", "#6a1b9a"];
const STOP_KEY = "classment.parent.stop.";

const $ = (id) => document.getElementById(id);
// The stop the parent picked per route, for a child assigned without a stop (and servers that
// do not say the stop in trip.mine): without storage it lasts as long as the page.
const store = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch { /* not kept */ } },
  remove(k) { try { localStorage.removeItem(k); } catch { /* nothing kept */ } },
};
const cm = new Classment({ app: "parent", onState: showConn });

// trip id -> {id, route: {id, name, stops}, students, colour, pos, speed, along,
//             childStop, serverStop, serverEta: {stop, eta_s, at}, arrivedStop, ended, el,
//             layers}
const trips = new Map();
const notified = new Set();   // "trip:stop:kind" already told
let map = null;
let stopsLayer = null;

// ---- text -------------------------------------------------------------------------------

function fmtAge(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return t("seconds", { n: s });
  if (s < 3600) return t("minutes", { n: Math.floor(s / 60) });
  return t("hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

function fmtEta(s) {
  if (s >= 3600) return t("hours", { h: Math.floor(s / 3600), m: Math.round((s % 3600) / 60) });
  return t("minutes", { n: Math.max(1, Math.round(s / 60)) });
}

function showConn(state) {
  $("conn").textContent = t(`conn.${state}`);
  $("conn").className = state;
}

// ---- geometry ---------------------------------------------------------------------------

const R = 6371008.8;
const rad = (d) => (d * Math.PI) / 180;

function distance(a, b) {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 +
            Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

// Metres along the route (the line through its stops in order) of the point of the route
// nearest to p. Stops are close together, so a flat projection around p is exact enough.
function alongRoute(stops, p) {
  const k = Math.cos(rad(p.lat));
  const xy = (q) => [rad(q.lon - p.lon) * R * k, rad(q.lat - p.lat) * R];
  let best = Infinity;
  let along = 0;
  for (let i = 0; i + 1 < stops.length; i++) {
    const [ax, ay] = xy(stops[i]);
    const [bx, by] = xy(stops[i + 1]);
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const f = len2 ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2)) : 0;
    const d = Math.hypot(ax + f * dx, ay + f * dy);
    if (d < best) {
      best = d;
      along = stops[i].along + f * (stops[i + 1].along - stops[i].along);
    }
  }
  return stops.length === 1 ? 0 : along;
}

// ---- trip state and ETA -----------------------------------------------------------------

function childStop(tr) {
  return tr.route.stops.find((s) => s.id === tr.childStop) || null;
}

// Where the bus is relative to the child's stop, from the last position alone, so that a
// parent who opens the page late (trip.subscribe's `last`) sees the same as one who watched.
function derive(tr) {
  const stop = childStop(tr);
  if (!tr.pos || !stop) return { stop };
  const near = distance(tr.pos, stop) <= STOP_RADIUS_M;
  const remaining = stop.along - tr.along;
  return { stop, near, passed: remaining < -STOP_RADIUS_M, remaining: Math.max(0, remaining) };
}

// The ETA to the child's stop in seconds, or null, and whether it is the server's.
// The server's trip.stop.approaching carries its own ETA (distance along the stops over the
// recent speed) but is sent once, when that ETA drops to 5 minutes, and only to the parents of
// that stop: while it is fresh the page counts it down. Otherwise (further away, a stop the
// parent picked, or opened after the event) the page estimates the same way: the distance
// along the route from the bus to the stop, over the recent speed (smoothed `spd` of the
// positions, or the speed between positions when `spd` is missing; at least 3 m/s).
function eta(tr, d) {
  const se = tr.serverEta;
  if (se && se.stop === tr.childStop) {
    const left = se.eta_s - (Date.now() - se.at) / 1000;
    if (left > -30) return { s: Math.max(0, left), server: true };
  }
  if (d.remaining == null) return null;
  return { s: d.remaining / Math.max(tr.speed || 0, MIN_SPEED_MPS), server: false };
}

function tripState(tr) {
  if (tr.ended) return "ended";
  if (!tr.pos) return "not_started";
  const d = derive(tr);
  if (tr.arrivedStop != null && tr.arrivedStop === tr.childStop) return "arrived";
  if (d.near || d.passed) return "arrived";
  const e = eta(tr, d);
  if (e && e.s <= APPROACH_S) return "arriving";
  return "on_the_way";
}

// ---- rendering --------------------------------------------------------------------------

// The map starts without tiles (a plain background that still shows the routes, stops and
// buses); tiles are added when /config.json names a tile server.
function setupMap() {
  map = L.map("map", { zoomControl: true, zoomSnap: 0.25 }).setView([20.6, 78.9], 4);
  $("map").classList.add("no-tiles");
  stopsLayer = L.layerGroup().addTo(map);
}

async function loadConfig() {
  try {
    const r = await fetch("/config.json", { cache: "no-cache" });
    if (r.ok) return await r.json();
  } catch { /* no tiles: the plain background still shows routes, stops and buses */ }
  return null;
}

function busIcon(tr) {
  const el = document.createElement("span");
  el.className = "bus";
  el.style.setProperty("--c", tr.colour);
  el.textContent = String(tr.index + 1);
  return L.divIcon({ html: el, className: "bus-icon", iconSize: [30, 30], iconAnchor: [15, 15] });
}

function drawRoute(tr) {
  const g = L.layerGroup();
  const line = tr.route.stops.map((s) => [s.lat, s.lon]);
  L.polyline(line, { color: tr.colour, weight: 5, opacity: 0.7 }).addTo(g);
  for (const s of tr.route.stops) {
    const mine = s.id === tr.childStop;
    const m = L.circleMarker([s.lat, s.lon], {
      radius: mine ? 10 : 6, color: mine ? "#000" : tr.colour, weight: mine ? 3 : 2,
      fillColor: mine ? "#ffd600" : "#fff", fillOpacity: 1,
    }).addTo(g);
    const label = mine ? t("yourStop", { name: s.name }) : t("stop", { seq: s.seq, name: s.name });
    m.bindTooltip(label, { permanent: mine, direction: "top", offset: [0, -8] });
  }
  if (tr.layers.route) stopsLayer.removeLayer(tr.layers.route);
  tr.layers.route = g.addTo(stopsLayer);
}

function placeBus(tr) {
  if (!tr.pos) return;
  const ll = [tr.pos.lat, tr.pos.lon];
  if (!tr.layers.bus) {
    tr.layers.bus = L.marker(ll, {
      icon: busIcon(tr), title: t("bus", { route: tr.route.name }), alt: t("bus", { route: tr.route.name }),
      zIndexOffset: 1000, keyboard: true,
    }).addTo(map);
  } else {
    tr.layers.bus.setLatLng(ll);
  }
  tr.layers.bus.getElement()?.classList.toggle("ended", !!tr.ended);
}

function fitAll() {
  const pts = [];
  for (const tr of trips.values()) {
    for (const s of tr.route.stops) pts.push([s.lat, s.lon]);
    if (tr.pos) pts.push([tr.pos.lat, tr.pos.lon]);
  }
  if (pts.length) map.fitBounds(pts, { padding: [40, 40], maxZoom: 16 });
}

function makeEntry(tr, place) {
  const li = document.createElement("li");
  li.className = "trip";
  li.dataset.trip = String(tr.id);
  li.style.setProperty("--c", tr.colour);
  const h = document.createElement("h3");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = String(tr.index + 1);
  badge.setAttribute("aria-hidden", "true");
  h.append(badge, " ", tr.route.name);
  const who = document.createElement("p");
  who.className = "who";
  who.textContent = t("riding", { names: (tr.students || []).map((s) => s.name).join(", ") });
  const state = document.createElement("p");
  state.className = "trip-state";
  const etaEl = document.createElement("p");
  etaEl.className = "eta";
  const age = document.createElement("p");
  age.className = "age";
  const label = document.createElement("label");
  const selId = `stop-${tr.id}`;
  label.htmlFor = selId;
  label.textContent = t("stopLabel");
  const sel = document.createElement("select");
  sel.id = selId;
  sel.className = "stop-select";
  const none = new Option(t("stopPick"), "");
  sel.append(none);
  for (const s of tr.route.stops) sel.append(new Option(t("stop", { seq: s.seq, name: s.name }), String(s.id)));
  sel.value = tr.childStop != null ? String(tr.childStop) : "";
  sel.addEventListener("change", () => {
    setChildStop(tr, sel.value ? Number(sel.value) : null, true);
  });
  // The stop picker folds away once the stop is known, keeping two trips on one phone screen.
  const row = document.createElement("details");
  row.className = "stop-row";
  const summary = document.createElement("summary");
  row.append(summary, label, sel);
  li.append(h, who, state, etaEl, age, row);
  tr.el = { li, state, eta: etaEl, age, sel, row, summary };
  showStop(tr);
  $("trips").insertBefore(li, place && place.parentNode ? place : null);
}

function showStop(tr) {
  const stop = childStop(tr);
  tr.el.summary.textContent = stop ? t("yourStop", { name: stop.name }) : t("stopPick");
  tr.el.row.open = !stop;
}

function render(tr) {
  if (!tr.el) return;
  const st = tripState(tr);
  tr.el.li.dataset.state = st;
  if (tr.el.state.textContent !== t(`state.${st}`)) tr.el.state.textContent = t(`state.${st}`);
  // ETA
  let etaText;
  const d = derive(tr);
  if (st === "ended") etaText = t("eta.ended");
  else if (st === "arrived") etaText = t("eta.done");
  else if (!d.stop) etaText = t("eta.none");
  else if (!tr.pos) etaText = t("eta.unknown");
  else {
    const e = eta(tr, d);
    if (!e) etaText = t("eta.unknown");
    else if (e.s < 30) etaText = t("eta.soon");
    else etaText = t(e.server ? "eta.server" : "eta.estimate", { t: fmtEta(e.s) });
  }
  tr.el.eta.textContent = etaText;
  // age of the last position, on the server's clock (the phone's may be off)
  if (!tr.pos) {
    tr.el.age.textContent = t("age.never");
    tr.el.age.classList.remove("stale");
  } else {
    const s = (cm.serverNow() - tr.pos.ts) / 1000;
    const stale = s > STALE_S && !tr.ended;
    tr.el.age.textContent = t(stale ? "age.stale" : "age.fresh", { t: fmtAge(s) });
    tr.el.age.classList.toggle("stale", stale);
  }
  watchTransitions(tr, st);
}

function showTripsMsg() {
  const any = trips.size > 0;
  $("trips-msg").textContent = any ? "" : t("noTrips");
}

// ---- notices ----------------------------------------------------------------------------

// action: an optional {label, run} shown as a button after the text.
function notice(key, text, when, action) {
  if (notified.has(key)) return;
  notified.add(key);
  const li = document.createElement("li");
  const time = document.createElement("time");
  const now = when ? new Date(when) : new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.append(time, " ", text);
  if (action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "notice-action";
    b.textContent = action.label;
    b.addEventListener("click", action.run);
    li.append(" ", b);
  }
  $("notices").prepend(li);
  $("no-notices").hidden = true;
  while ($("notices").children.length > 20) $("notices").lastElementChild.remove();
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(t("notifyTitle"), { body: text, tag: key });
    } catch { /* some phones allow notifications only from a service worker */ }
  }
}

// Notices for changes the page sees itself (the stop the parent picked, or when the server's
// stop event was missed); the server's events use the same keys, so each is told once.
function watchTransitions(tr, st) {
  const prev = tr.lastState;
  tr.lastState = st;
  if (prev === undefined || prev === st || tr.childStop == null) return;
  const stop = childStop(tr);
  if (st === "arriving" && prev === "on_the_way") {
    const e = eta(tr, derive(tr));
    notice(`${tr.id}:${stop.id}:approaching`,
           t("approaching", { route: tr.route.name, stop: stop.name, t: fmtEta(e ? e.s : APPROACH_S) }));
  } else if (st === "arrived" && (prev === "arriving" || prev === "on_the_way")) {
    notice(`${tr.id}:${stop.id}:arrived`, t("arrivedAt", { route: tr.route.name, stop: stop.name }));
  }
}

function setupNotify() {
  const btn = $("notify");
  const update = () => {
    const p = "Notification" in window ? Notification.permission : "unsupported";
    btn.hidden = p !== "default";
    $("notify-msg").textContent = p === "granted" ? t("notifyOn") : p === "denied" ? t("notifyDenied") : "";
  };
  // Permission is asked only when the parent presses the button, never on load.
  btn.addEventListener("click", async () => {
    try { await Notification.requestPermission(); } catch { /* old browsers */ }
    update();
  });
  update();
}

// ---- trips ------------------------------------------------------------------------------

// The stop the server says the parent's children board at (trip.mine's students[].stop): the
// first child's that is on the route, or null (assigned without a stop, or an older server).
function serverStop(mine, stops) {
  for (const s of mine.students || []) {
    if (s.stop && stops.some((x) => x.id === s.stop.id)) return s.stop.id;
  }
  return null;
}

function setChildStop(tr, id, byParent) {
  if (id === tr.childStop) return;
  tr.childStop = id;
  // Only the parent's own choice is kept: the server's stop comes again with every trip.mine.
  if (byParent && id == null) store.remove(STOP_KEY + tr.route.id);
  else if (byParent) store.set(STOP_KEY + tr.route.id, String(id));
  if (tr.el) {
    tr.el.sel.value = id == null ? "" : String(id);
    showStop(tr);
  }
  tr.lastState = byParent ? undefined : tr.lastState;   // a new choice is not a "change"
  drawRoute(tr);
  render(tr);
}

function setPos(tr, p) {
  if (tr.pos && p.ts <= tr.pos.ts) return;
  // Recent speed: the reported one when present, else measured between the two fixes.
  let v = typeof p.spd === "number" ? p.spd : null;
  if (v == null && tr.pos) {
    const dt = (p.ts - tr.pos.ts) / 1000;
    if (dt > 0) v = distance(tr.pos, p) / dt;
  }
  if (v != null) tr.speed = tr.speed == null ? v : SPEED_SMOOTHING * v + (1 - SPEED_SMOOTHING) * tr.speed;
  tr.pos = { lat: p.lat, lon: p.lon, ts: p.ts };
  tr.along = alongRoute(tr.route.stops, tr.pos);
  placeBus(tr);
  render(tr);
}

function addTrip(mine, sub) {
  let tr = trips.get(mine.trip);
  const fresh = !tr;
  if (fresh) {
    // A new trip of a route replaces that route's ended one, in the same place in the list.
    let place = null;
    for (const old of [...trips.values()]) {
      if (old.ended && old.route.id === sub.route.id) {
        place = old.el.li.nextSibling;
        removeTrip(old);
      }
    }
    const stops = sub.route.stops.slice().sort((a, b) => a.seq - b.seq);
    let along = 0;
    stops.forEach((s, i) => {
      if (i) along += distance(stops[i - 1], s);
      s.along = along;
    });
    // The server's stop first; the parent's earlier pick only when the server names none.
    const given = serverStop(mine, stops);
    const saved = Number(store.get(STOP_KEY + sub.route.id)) || null;
    // The smallest number (and colour) no followed trip uses, so a replacing trip takes the
    // ended one's and two buses never share a colour.
    const used = new Set([...trips.values()].map((x) => x.index));
    let index = 0;
    while (used.has(index)) index++;
    tr = {
      id: mine.trip, index, colour: COLOURS[index % COLOURS.length],
      route: { id: sub.route.id, name: sub.route.name, stops },
      students: mine.students || [], pos: null, speed: null, along: 0,
      childStop: given ?? (stops.some((s) => s.id === saved) ? saved : null),
      serverStop: given, serverEta: null, arrivedStop: null, ended: false, layers: {},
    };
    trips.set(tr.id, tr);
    makeEntry(tr, place);
    drawRoute(tr);
  }
  tr.ended = false;
  if (!fresh) {
    // A later trip.mine (reconnect, another trip started) follows a changed assignment, but
    // leaves a stop the parent picked on this page alone while the server's is unchanged.
    const given = serverStop(mine, tr.route.stops);
    if (given !== tr.serverStop) {
      tr.serverStop = given;
      if (given != null) setChildStop(tr, given, false);
    }
  }
  if (sub.last) setPos(tr, sub.last);
  if (fresh) replayEarly(tr.id);
  render(tr);
  if (fresh) fitAll();
  showTripsMsg();
}

function removeTrip(tr) {
  if (tr.layers.route) stopsLayer.removeLayer(tr.layers.route);
  if (tr.layers.bus) map.removeLayer(tr.layers.bus);
  tr.el?.li.remove();
  trips.delete(tr.id);
}

function endTrip(tr, tell) {
  if (tr.ended) return;
  tr.ended = true;
  placeBus(tr);
  render(tr);
  if (tell) notice(`${tr.id}:ended`, t("ended", { route: tr.route.name }));
}

// At log-out nothing of the previous user stays on the page (phones are shared).
function clearTrips() {
  for (const tr of [...trips.values()]) removeTrip(tr);
  notified.clear();
  early.clear();
  $("notices").replaceChildren();
  $("no-notices").hidden = false;
  lastNotice = 0;
  childNames.clear();
}

// trip.mine, then trip.subscribe to each: after login and after every reconnect (a new
// connection has no subscriptions). Runs one at a time.
let refreshing = Promise.resolve();
function refresh() {
  refreshing = refreshing.then(doRefresh, doRefresh);
  return refreshing;
}

async function doRefresh() {
  if (!cm.user) return;
  let mine;
  try {
    mine = await cm.call("trip.mine");
  } catch {
    return;   // offline again: the next "ready" runs this again
  }
  const active = new Set(mine.map((m) => m.trip));
  for (const tr of trips.values()) if (!tr.ended && !active.has(tr.id)) endTrip(tr, true);
  for (const m of mine) {
    try {
      addTrip(m, await cm.call("trip.subscribe", { trip: m.trip }));
    } catch (e) {
      const tr = trips.get(m.trip);
      if (tr && e.code === "conflict") endTrip(tr, true);
    }
  }
  showTripsMsg();
}

cm.on("trip.pos", (p) => {
  const tr = trips.get(p.trip);
  if (tr && !tr.ended) setPos(tr, p);
});

cm.on("trip.started", () => refresh());

cm.on("trip.ended", ({ trip }) => {
  const tr = trips.get(trip);
  if (tr) endTrip(tr, true);
});

cm.on("trip.unsubscribed", ({ trip }) => {
  const tr = trips.get(trip);
  if (tr) removeTrip(tr);
  showTripsMsg();
});

// Stop events come only for the stops of the parent's own children: they also tell the page
// which stop is the child's when neither trip.mine (an older server) nor the parent said it.
// A stop event can overtake the subscription of a trip that has just started (it comes on
// the trip's first positions, while trip.started's trip.mine and trip.subscribe are still under
// way): such events wait here until the trip is added, and are then replayed.
const early = new Map();   // trip id -> [[event, data], ...]
function holdEarly(trip, ev, data) {
  if (early.size > 20) early.clear();
  if (!early.has(trip)) early.set(trip, []);
  early.get(trip).push([ev, data]);
}

function replayEarly(trip) {
  const evs = early.get(trip);
  early.delete(trip);
  for (const [ev, data] of evs || []) {
    if (ev === "trip.stop.approaching") onApproaching(data);
    else onArrived(data);
  }
}

cm.on("trip.stop.approaching", (d) => onApproaching(d));
cm.on("trip.stop.arrived", (d) => onArrived(d));

function onApproaching(data) {
  const { trip, stop, eta_s } = data;
  const tr = trips.get(trip);
  if (!tr) return holdEarly(trip, "trip.stop.approaching", data);
  if (tr.childStop == null) setChildStop(tr, stop, false);
  tr.serverEta = { stop, eta_s, at: Date.now() };
  const s = tr.route.stops.find((x) => x.id === stop);
  notice(`${trip}:${stop}:approaching`,
         t("approaching", { route: tr.route.name, stop: s ? s.name : "", t: fmtEta(eta_s) }));
  render(tr);
}

function onArrived(data) {
  const { trip, stop } = data;
  const tr = trips.get(trip);
  if (!tr) return holdEarly(trip, "trip.stop.arrived", data);
  if (tr.childStop == null) setChildStop(tr, stop, false);
  tr.arrivedStop = stop;
  const s = tr.route.stops.find((x) => x.id === stop);
  notice(`${trip}:${stop}:arrived`, t("arrivedAt", { route: tr.route.name, stop: s ? s.name : "" }));
  render(tr);
}

// ---- attendance notices ---------------------------------------------------------------------

// The server keeps a notice for each child marked absent or late (notice.list) and sends
// attendance.marked to the parent's live connections. Both are shown the same way, each notice
// once (by its id): the event makes the page fetch the notices it has not seen, and the unread
// ones are marked read once shown (notice.read).
let lastNotice = 0;               // highest notice id seen
const childNames = new Map();     // student id -> name (trip.mine's students, or student.get)

async function childName(id) {
  if (childNames.has(id)) return childNames.get(id);
  for (const tr of trips.values()) {
    const s = (tr.students || []).find((x) => x.id === id);
    if (s) { childNames.set(id, s.name); return s.name; }
  }
  let name = null;
  try { name = (await cm.call("student.get", { id })).name || null; } catch { /* fall back */ }
  if (name) childNames.set(id, name);
  return name || t("yourChild");
}

function localDay() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

async function attendanceText(n) {
  const name = await childName(n.student);
  const status = t(`attendance.${n.status}`) !== `attendance.${n.status}` ? t(`attendance.${n.status}`) : n.status;
  const text = n.day === localDay() ? t("attendance.today", { name, status })
    : t("attendance.on", { name, status, day: n.day });
  return n.note ? `${text} ${t("attendance.note", { note: n.note })}` : text;
}

// Homework notices (kind "homework") and the event homework.assigned carry the same map.
async function homeworkText(d) {
  const names = await Promise.all((d.students || []).map(childName));
  return t("homework.assigned", {
    names: names.join(", ") || t("yourChild"), subject: d.subject ? d.subject.name : "",
    title: d.title, due: d.due_on,
  });
}

// Report cards (kind "report_card", event report_card.published: {student, term}): the
// notice offers the card, fetched over a short-lived link asked for at the click.
async function reportCardNotice(key, d, when) {
  const name = await childName(d.student);
  notice(key, t("reportCard.ready", { name }), when, {
    label: t("reportCard.open"),
    run: async () => {
      try {
        const r = await cm.call("report_card.get", { student: d.student, term: d.term });
        window.open(r.url, "_blank", "noopener");
      } catch (e) {
        notice(`rcerr:${d.student}:${d.term}:${Date.now()}`, t("reportCard.failed",
          { message: e && e.message ? e.message : "" }));
      }
    },
  });
}

// Runs one at a time, like refresh().
let noticing = Promise.resolve();
function loadNotices(ev) {
  noticing = noticing.then(() => doLoadNotices(ev), () => doLoadNotices(ev));
  return noticing;
}

async function doLoadNotices(ev) {
  if (!cm.user || cm.user.role !== "parent") return;
  let shown = 0;
  try {
    for (;;) {
      // An id is 1 or more: the first page leaves `after` out.
      const list = await cm.call("notice.list", { after: lastNotice || undefined, limit: 200 });
      for (const n of list) {
        lastNotice = Math.max(lastNotice, n.id);
        if (n.read) continue;
        if (n.kind === "report_card" && n.data) {
          await reportCardNotice(`notice:${n.id}`, n.data, n.at);
        } else if (n.kind === "homework" && n.data) {
          notice(`notice:${n.id}`, await homeworkText(n.data), n.at);
        } else if (n.kind === "attendance") {
          notice(`notice:${n.id}`, await attendanceText(n), n.at);
        } else {
          continue;
        }
        shown++;
      }
      if (list.length < 200) break;
    }
    if (shown) await cm.call("notice.read", { upto: lastNotice });
  } catch {
    // Offline or an older server: the event itself still says it; the next "ready" lists again.
    if (ev && ev.homework) notice(`hw:${ev.homework}`, await homeworkText(ev));
    else if (ev && ev.term) await reportCardNotice(`rc:${ev.student}:${ev.term}`, ev);
    else if (ev) notice(`att:${ev.student}:${ev.day}:${ev.status}`, await attendanceText(ev));
  }
}

cm.on("attendance.marked", (ev) => loadNotices(ev));
cm.on("homework.assigned", (ev) => loadNotices(ev));
cm.on("report_card.published", (ev) => loadNotices(ev));

// ---- login and session ------------------------------------------------------------------

function showApp() {
  showAppBox();
  map.invalidateSize();
  if (!trips.size) $("trips-msg").textContent = t("loading");
}

// The trips are loaded by the "ready" handler (resumed session) or right after verify.
function setupLoginForm() {
  return setupSession(cm, t, {
    role: "parent",
    wrongRole: "login.notParent",
    onUser: () => { refresh(); loadNotices(); },
    showApp,
    onIn: () => $("trips-h").focus(),
    onOut: clearTrips,
  });
}

// ---- start ------------------------------------------------------------------------------

async function main() {
  buildLogin({ hint: true });
  fillStrings(t);
  showConn("connecting");
  setupMap();
  const onSession = setupLoginForm();
  setupNotify();
  // A kept session shows the trips at once (positions follow once resumed); no session, the
  // login form.
  if (cm.hasToken()) showApp();
  else showLoginBox();
  cm.on("session", onSession);
  cm.on("ready", (user) => {
    if (user && user.role === "parent") { refresh(); loadNotices(); }
    else if (!user && !$("app").hidden) onSession(null);
  });
  cm.start();
  setInterval(() => { for (const tr of trips.values()) render(tr); }, 1000);
  const config = await loadConfig();
  if (config && config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.attribution || "", maxZoom: 19 }).addTo(map);
    $("map").classList.remove("no-tiles");
  }
}

main();
