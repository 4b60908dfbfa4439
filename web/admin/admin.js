// admin.js: the school admin's console. Log in (phone, then SMS code) as an admin; the console
// then asks the server for its operations (sys.schema) and builds a form for every operation
// the admin role may call, grouped by the prefix of its name, so an operation added to the
// server later appears here without new page code. Two tools need more than a form: a route
// editor (stops placed by clicking a map, then route.create) and a live map of the school's
// running buses (trip.mine, trip.subscribe, trip.pos events).
import { Classment } from "/common/classment.js";
import { buildLogin, setupSession, showAppBox, showLoginBox } from "/common/login.js";
import { fillStrings } from "/common/text.js";
import { t } from "/admin/strings.js";

const ROLE = "admin";
// Admins get no trip.started event, so the list of running trips is asked for again this often.
const LIVE_REFRESH_MS = 10000;
const COLOURS = ["#0d47a1", "#b71c1c", "#1b5e20", "#6a1b9a", "#e65100", "#004d40"];
// Where the maps start when nothing better is known (India, whole).
const HOME = { center: [20.6, 78.9], zoom: 5 };

const $ = (id) => document.getElementById(id);
// A session of its own: the parent and driver pages share the default token key, and a
// parent's kept session must not be resumed (and refused, ending it) here.
const TOKEN_KEY = "classment.admin.token";
const cm = new Classment({ app: "admin", onState: showConn, tokenKey: TOKEN_KEY });

let config = null;
let schema = null;           // [{name, roles, public, args}] from sys.schema

// ---- small helpers ----------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (!k.includes("-") && k in e) e[k] = v;   // properties: disabled, spellcheck, min…
    else if (v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function showConn(state) {
  $("conn").textContent = t(`conn.${state}`);
  $("conn").className = state;
}

const fmt = (x) => Number(x).toFixed(5);

// An error of a call in plain words; `label` turns a field name into what the page shows.
function errorText(e, label = (f) => f) {
  const field = e.field ? label(e.field) : "";
  const msg = e.message || "";
  switch (e.code) {
    case "bad_request": return field ? t("err.bad_request", { field, msg }) : t("err.bad_request_nofield", { msg });
    case "not_found": return t("err.not_found", { field: field || "the record" });
    case "conflict": return t("err.conflict", { field: field || "-", msg });
    case "rate_limited": return t("err.rate_limited", { s: e.retry_after_s || 30 });
    case "forbidden": case "unauthenticated": case "offline": case "timeout": case "unavailable":
      return t(`err.${e.code}`);
    default: return t("err.other", { code: e.code || "?", msg });
  }
}

// "stops[2].name" -> "stops", the argument a form input stands for.
const baseField = (f) => String(f || "").split(/[.[]/)[0];

async function loadConfig() {
  try {
    const r = await fetch("/config.json", { cache: "no-cache" });
    if (r.ok) return await r.json();
  } catch { /* no tiles: a plain background */ }
  return null;
}

function makeMap(id) {
  const m = L.map(id, { zoomControl: true, zoomSnap: 0.25 }).setView(HOME.center, HOME.zoom);
  if (config && config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.attribution || "", maxZoom: 19 }).addTo(m);
  } else {
    $(id).classList.add("no-tiles");
  }
  return m;
}

// ---- panels -----------------------------------------------------------------------------

let current = null;
function showPanel(id, button) {
  for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== id;
  for (const b of document.querySelectorAll("#sidebar button")) {
    if (b === button) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  current = id;
  if (id === "panel-live") live.show();
  if (id === "panel-route") editor.show();
}

// ---- forms generated from sys.schema ------------------------------------------------------

function argLabel(a) {
  return a.name + (a.required ? "" : ` ${t("op.optional")}`);
}

function argHint(a) {
  const parts = [a.type];
  if (a.type === "enum" && a.values) parts.push(a.values.join(" | "));
  if (a.min != null || a.max != null) {
    parts.push(a.type === "array" ? `≤ ${a.max} items` : `${a.min ?? "…"}–${a.max ?? "…"}`);
  }
  if (a.max_len != null) parts.push(`≤ ${a.max_len} bytes`);
  if (a.format) parts.push(a.format);
  if (a.type === "array" && a.items) parts.push(`of ${describe(a.items)}`);
  if (a.type === "map" && a.fields) parts.push(`{${a.fields.map((f) => f.name).join(", ")}}`);
  return parts.join(", ");
}

function describe(a) {
  if (a.type === "map" && a.fields) return `{${a.fields.map((f) => `${f.name}${f.required ? "" : "?"}`).join(", ")}}`;
  if (a.type === "array" && a.items) return `[${describe(a.items)}]`;
  return a.type;
}

// The route ops' `stops` come from the route editor's map instead of a JSON box.
const usesEditor = (op, a) => op.name.startsWith("route.") && a.name === "stops" && a.type === "array";

function inputFor(op, a) {
  const id = `arg-${a.name}`;
  const common = { id, name: a.name, required: !!a.required, "aria-describedby": `${id}-hint` };
  switch (a.type) {
    case "id": case "int": case "number":
      return el("input", { ...common, type: "number", inputMode: a.type === "number" ? "decimal" : "numeric",
        step: a.type === "number" ? "any" : "1", min: a.min ?? (a.type === "id" ? 1 : null), max: a.max });
    case "enum": {
      const s = el("select", common);
      if (!a.required) s.append(el("option", { value: "", text: t("op.notGiven") }));
      for (const v of a.values || []) s.append(el("option", { value: v, text: v }));
      return s;
    }
    case "bool": {
      const c = el("input", { ...common, type: "checkbox", required: false });
      // An optional flag is sent only once the admin has touched it, so an update that does
      // not mean to change it leaves it alone.
      c.addEventListener("change", () => { c.dataset.touched = "1"; });
      return c;
    }
    case "array": case "map":
      return el("textarea", { ...common, rows: 4, spellcheck: false,
        placeholder: a.type === "array" ? "[ ]" : "{ }" });
    default:
      return el("input", { ...common, type: a.format === "date" ? "date" : a.format === "phone" ? "tel" : "text",
        maxLength: a.max_len ?? null });
  }
}

function openOp(op, button) {
  showPanel("panel-op", button);
  $("op-h").textContent = op.name;
  $("op-roles").textContent = t("op.roles", { roles: (op.roles || []).join(", ") });
  $("op-msg").textContent = "";
  $("op-result").replaceChildren();
  const form = $("op-form");
  form.replaceChildren();
  form.dataset.op = op.name;
  for (const a of op.args || []) {
    const id = `arg-${a.name}`;
    const hint = el("p", { id: `${id}-hint`, class: "hint", text: argHint(a) });
    if (usesEditor(op, a)) {
      const note = el("p", { id, class: "from-editor", tabIndex: -1, "data-editor": "stops",
        text: t("editor.fromEditor", { n: editor.stops.length }) });
      const open = el("button", { type: "button", class: "secondary", text: t("editor.openEditor") });
      open.addEventListener("click", () => showPanel("panel-route", $("tab-route-editor")));
      form.append(el("div", { class: "field" }, el("span", { class: "label", text: argLabel(a) }), note, open, hint));
      continue;
    }
    const input = inputFor(op, a);
    const label = el("label", { htmlFor: id, text: argLabel(a) });
    const field = el("div", { class: `field ${a.type === "bool" ? "check" : ""}` }, label, input, hint);
    if (a.nullable && !a.required) {
      // The schema says nil means something here (bus.update's driver: take it off the bus).
      const clear = el("input", { id: `${id}-clear`, type: "checkbox" });
      clear.addEventListener("change", () => { input.disabled = clear.checked; });
      field.append(el("div", { class: "field check" }, clear,
        el("label", { htmlFor: `${id}-clear`, text: t("op.clear", { field: a.name }) })));
    }
    form.append(field);
  }
  form.append(el("button", { type: "submit", id: "op-send", text: t("op.run") }));
  $("op-h").focus();
}

function clearInvalid(form) {
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  for (const e of form.querySelectorAll(".invalid")) e.classList.remove("invalid");
}

function markInvalid(name) {
  const e = $(`arg-${baseField(name)}`);
  if (!e) return;
  e.setAttribute("aria-invalid", "true");
  e.closest(".field")?.classList.add("invalid");
  e.focus();
}

class LocalError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

// The args of a form, or a LocalError naming the first field that cannot be sent.
function readArgs(op) {
  const args = {};
  for (const a of op.args || []) {
    if (usesEditor(op, a)) {
      if (editor.stops.length) args[a.name] = editor.payload();
      else if (a.required) throw new LocalError(a.name, t("editor.needStops"));
      continue;
    }
    const e = $(`arg-${a.name}`);
    if ($(`arg-${a.name}-clear`)?.checked) {
      args[a.name] = null;   // sent as nil
      continue;
    }
    if (a.type === "bool") {
      if (a.required || e.dataset.touched) args[a.name] = e.checked;
      continue;
    }
    const raw = e.value.trim();
    if (raw === "") {
      if (a.required) throw new LocalError(a.name, t("err.required", { field: a.name }));
      continue;
    }
    switch (a.type) {
      case "id": case "int": case "number": {
        const n = Number(raw);
        if (!Number.isFinite(n) || (a.type !== "number" && !Number.isInteger(n))) {
          throw new LocalError(a.name, t("err.notNumber", { field: a.name }));
        }
        args[a.name] = n;
        break;
      }
      case "array": case "map": {
        let v;
        try {
          v = JSON.parse(raw);
        } catch (x) {
          throw new LocalError(a.name, t("err.badJson", { field: a.name, msg: x.message }));
        }
        if (a.type === "array" && !Array.isArray(v)) throw new LocalError(a.name, t("err.notArray", { field: a.name }));
        if (a.type === "map" && (v === null || typeof v !== "object" || Array.isArray(v))) {
          throw new LocalError(a.name, t("err.notMap", { field: a.name }));
        }
        args[a.name] = v;
        break;
      }
      default:
        args[a.name] = e.value;   // strings as typed (the server trims where it means to)
    }
  }
  return args;
}

function cell(v) {
  if (v == null) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// The reply: a table for an array of maps, key/value pairs for a map, else the value.
function renderResult(data) {
  const out = $("op-result");
  out.replaceChildren();
  const isMap = (x) => x && typeof x === "object" && !Array.isArray(x);
  if (Array.isArray(data) && data.every(isMap)) {
    if (!data.length) { out.append(el("p", { text: t("op.empty") })); return; }
    const cols = [...new Set(data.flatMap((r) => Object.keys(r)))];
    const table = el("table", { class: "result" },
      el("caption", { text: t("op.rows", { n: data.length }) }),
      el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col", text: c })))));
    const body = el("tbody");
    for (const r of data) body.append(el("tr", {}, ...cols.map((c) => el("td", { text: cell(r[c]) }))));
    table.append(body);
    out.append(el("div", { class: "table-wrap" }, table));
  } else if (isMap(data)) {
    const keys = Object.keys(data);
    if (!keys.length) { out.append(el("p", { class: "ok", text: t("op.done") })); return; }
    const dl = el("dl", { class: "result" });
    for (const k of keys) dl.append(el("dt", { text: k }), el("dd", { "data-key": k, text: cell(data[k]) }));
    out.append(dl);
  } else {
    out.append(el("p", { text: cell(data) }));
  }
}

async function submitOp(ev) {
  ev.preventDefault();
  const form = $("op-form");
  const op = schema && schema.find((o) => o.name === form.dataset.op);
  if (!op) return;
  clearInvalid(form);
  $("op-result").replaceChildren();
  let args;
  try {
    args = readArgs(op);
  } catch (e) {
    if (!(e instanceof LocalError)) throw e;
    $("op-msg").textContent = e.message;
    markInvalid(e.field);
    return;
  }
  const send = $("op-send");
  send.disabled = true;
  $("op-msg").textContent = t("op.sending");
  try {
    const data = await cm.call(op.name, args);
    $("op-msg").textContent = "";
    renderResult(data);
    if (op.name === "route.create") editor.reset();
  } catch (e) {
    $("op-msg").textContent = errorText(e);
    if (e.field) {
      if (baseField(e.field) === "stops" && usesEditor(op, { name: "stops", type: "array" })) editor.markStop(e.field);
      markInvalid(e.field);
    }
  } finally {
    send.disabled = false;
  }
}

function buildSidebar() {
  const groups = new Map();
  for (const op of schema) {
    if (op.public || !(op.roles || []).includes(ROLE)) continue;
    const g = op.name.split(".")[0];
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(op);
  }
  const box = $("op-groups");
  box.replaceChildren();
  for (const [g, ops] of groups) {
    const list = el("ul");
    for (const op of ops) {
      const b = el("button", { type: "button", "data-op": op.name, text: op.name.slice(g.length + 1) || op.name });
      b.addEventListener("click", () => openOp(op, b));
      list.append(el("li", {}, b));
    }
    box.append(el("details", { open: true, "data-group": g }, el("summary", { text: g }), list));
  }
}

async function loadSchema() {
  try {
    schema = await cm.call("sys.schema");
    $("schema-msg").textContent = "";
    buildSidebar();
  } catch {
    $("schema-msg").textContent = t("schemaFailed");
  }
}

// ---- route editor -----------------------------------------------------------------------

const editor = {
  map: null,
  layer: null,
  stops: [],          // [{name, lat, lon}] in riding order
  pending: null,      // the clicked point waiting for its name
  pendingMarker: null,
  centred: false,

  show() {
    if (!this.map) {
      this.map = makeMap("route-map");
      this.layer = L.layerGroup().addTo(this.map);
      this.map.on("click", (e) => this.place(e.latlng));
    }
    this.map.invalidateSize();
    if (!this.centred) this.centre();
    $("editor-h").focus();
  },

  // Start where the school's routes are: the stops of its first route, when it has one.
  async centre() {
    this.centred = true;
    try {
      const list = await cm.call("route.list", { limit: 1 });
      if (!list.length || this.stops.length) return;
      const r = await cm.call("route.get", { id: list[0].id });
      if (r.stops && r.stops.length && !this.stops.length) {
        this.map.fitBounds(L.latLngBounds(r.stops.map((s) => [s.lat, s.lon])).pad(0.5), { maxZoom: 16 });
      }
    } catch { /* stay on the default view */ }
  },

  place(latlng) {
    const p = latlng.wrap();
    this.pending = { lat: +p.lat.toFixed(6), lon: +p.lng.toFixed(6) };
    if (this.pendingMarker) this.pendingMarker.remove();
    this.pendingMarker = L.circleMarker(latlng, { radius: 8, color: "#e65100", dashArray: "3" }).addTo(this.map);
    $("stop-form").hidden = false;
    $("stop-where").textContent = t("editor.where", { lat: fmt(this.pending.lat), lon: fmt(this.pending.lon) });
    const name = $("stop-name");
    name.value = t("editor.stopDefault", { n: this.stops.length + 1 });
    name.removeAttribute("aria-invalid");
    name.focus();
    name.select();
  },

  cancel() {
    this.pending = null;
    if (this.pendingMarker) this.pendingMarker.remove();
    this.pendingMarker = null;
    $("stop-form").hidden = true;
  },

  add(ev) {
    ev.preventDefault();
    const name = $("stop-name").value.trim();
    if (!this.pending) return;
    if (!name) { $("stop-name").setAttribute("aria-invalid", "true"); $("stop-name").focus(); return; }
    this.stops.push({ name, ...this.pending });
    this.cancel();
    this.draw();
  },

  move(i, d) {
    const j = i + d;
    if (j < 0 || j >= this.stops.length) return;
    [this.stops[i], this.stops[j]] = [this.stops[j], this.stops[i]];
    this.draw();
    $("stops").children[j]?.querySelector(d < 0 ? ".up" : ".down")?.focus();
  },

  remove(i) {
    this.stops.splice(i, 1);
    this.draw();
  },

  draw() {
    const list = $("stops");
    list.replaceChildren();
    $("no-stops").hidden = this.stops.length > 0;
    this.stops.forEach((s, i) => {
      const up = el("button", { type: "button", class: "up small", text: "↑", disabled: i === 0,
        "aria-label": `${t("editor.up")}: ${s.name}` });
      const down = el("button", { type: "button", class: "down small", text: "↓",
        disabled: i === this.stops.length - 1, "aria-label": `${t("editor.down")}: ${s.name}` });
      const del = el("button", { type: "button", class: "del small secondary", text: t("editor.remove"),
        "aria-label": `${t("editor.remove")}: ${s.name}` });
      up.addEventListener("click", () => this.move(i, -1));
      down.addEventListener("click", () => this.move(i, 1));
      del.addEventListener("click", () => this.remove(i));
      list.append(el("li", { "data-stop": i },
        el("span", { class: "stop-name", text: t("editor.stopLabel", { name: s.name, lat: fmt(s.lat), lon: fmt(s.lon) }) }),
        el("span", { class: "row" }, up, down, del)));
    });
    if (!this.layer) return;
    this.layer.clearLayers();
    if (this.stops.length > 1) {
      L.polyline(this.stops.map((s) => [s.lat, s.lon]), { color: "#0d47a1", weight: 4, opacity: 0.7 }).addTo(this.layer);
    }
    this.stops.forEach((s, i) => {
      const icon = L.divIcon({ html: el("span", { class: "stop-pin", text: String(i + 1) }),
        className: "stop-icon", iconSize: [26, 26], iconAnchor: [13, 13] });
      L.marker([s.lat, s.lon], { icon, title: s.name, keyboard: false }).addTo(this.layer);
    });
    const note = document.querySelector("[data-editor=stops]");
    if (note) note.textContent = t("editor.fromEditor", { n: this.stops.length });
  },

  payload() {
    return this.stops.map((s) => ({ name: s.name, lat: s.lat, lon: s.lon }));
  },

  reset() {
    this.stops = [];
    $("route-name").value = "";
    this.draw();
  },

  markStop(field) {
    const m = /^stops\[(\d+)\]/.exec(field || "");
    const li = m && $("stops").children[+m[1]];
    if (li) li.classList.add("invalid");
  },

  async create(ev) {
    ev.preventDefault();
    const msg = $("route-msg");
    const name = $("route-name").value.trim();
    for (const li of $("stops").children) li.classList.remove("invalid");
    $("route-name").removeAttribute("aria-invalid");
    delete msg.dataset.route;
    if (!name) {
      msg.textContent = t("editor.needName");
      $("route-name").setAttribute("aria-invalid", "true");
      $("route-name").focus();
      return;
    }
    if (!this.stops.length) { msg.textContent = t("editor.needStops"); return; }
    $("create-route").disabled = true;
    try {
      const r = await cm.call("route.create", { name, stops: this.payload() });
      msg.textContent = t("editor.created", { id: r.id, n: r.stops.length });
      msg.dataset.route = r.id;
      msg.dataset.stops = r.stops.map((s) => s.id).join(" ");
      this.reset();
    } catch (e) {
      msg.textContent = errorText(e, (f) => (f === "name" ? t("editor.routeName") : f));
      if (e.field === "name") { $("route-name").setAttribute("aria-invalid", "true"); $("route-name").focus(); }
      this.markStop(e.field);
    } finally {
      $("create-route").disabled = false;
    }
  },
};

// ---- live map of the running buses ------------------------------------------------------

const live = {
  map: null,
  trips: new Map(),     // trip id -> {id, route, colour, marker, line, el, pos}
  timer: 0,
  subscribed: new Set(),
  fitted: false,

  show() {
    if (!this.map) {
      this.map = makeMap("live-map");
      $("live-msg").textContent = t("live.loading");
    }
    this.map.invalidateSize();
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), LIVE_REFRESH_MS);
  },

  // trip.mine for an admin lists every active trip of the school (docs/protocol.md).
  async refresh() {
    if (!this.map || !cm.user) return;
    let list;
    try {
      list = await cm.call("trip.mine");
    } catch (e) {
      $("live-msg").textContent = t("live.failed", { msg: errorText(e) });
      return;
    }
    const ids = new Set(list.map((x) => x.trip));
    for (const id of [...this.trips.keys()]) if (!ids.has(id)) this.drop(id);
    for (const x of list) {
      if (!this.subscribed.has(x.trip)) await this.follow(x);
    }
    $("live-msg").textContent = this.trips.size ? "" : t("live.none");
  },

  async follow(x) {
    let sub;
    try {
      sub = await cm.call("trip.subscribe", { trip: x.trip });
    } catch { return; }   // ended meanwhile: the next refresh no longer lists it
    this.subscribed.add(x.trip);
    let tr = this.trips.get(x.trip);
    if (!tr) {
      const colour = COLOURS[this.trips.size % COLOURS.length];
      const item = el("li", { "data-trip": x.trip });
      item.style.setProperty("--c", colour);
      tr = { id: x.trip, route: sub.route || x.route, colour, el: item, pos: null, marker: null, line: null };
      this.trips.set(x.trip, tr);
      $("live-trips").append(item);
      const stops = (sub.route && sub.route.stops) || [];
      if (stops.length > 1) {
        tr.line = L.polyline(stops.map((s) => [s.lat, s.lon]), { color: colour, weight: 4, opacity: 0.6 }).addTo(this.map);
      }
    }
    if (sub.last) this.move(sub.last);
    this.render(tr);
    this.fit();
  },

  drop(id) {
    const tr = this.trips.get(id);
    if (!tr) return;
    if (tr.marker) tr.marker.remove();
    if (tr.line) tr.line.remove();
    tr.el.remove();
    this.trips.delete(id);
    this.subscribed.delete(id);
  },

  move(p) {
    const tr = this.trips.get(p.trip);
    if (!tr) return;
    tr.pos = { lat: p.lat, lon: p.lon, ts: p.ts };
    if (!tr.marker) {
      const icon = L.divIcon({ html: el("span", { class: "bus", text: String(tr.id) }),
        className: "bus-icon", iconSize: [30, 30], iconAnchor: [15, 15] });
      tr.marker = L.marker([p.lat, p.lon], { icon, title: t("live.trip", { trip: tr.id, route: tr.route.name }) }).addTo(this.map);
      tr.marker.getElement()?.style.setProperty("--c", tr.colour);
      this.fitted = false;
      this.fit();
    } else {
      tr.marker.setLatLng([p.lat, p.lon]);
    }
    this.render(tr);
  },

  fit() {
    if (this.fitted) return;
    const pts = [];
    for (const tr of this.trips.values()) {
      if (tr.pos) pts.push([tr.pos.lat, tr.pos.lon]);
      if (tr.line) pts.push(...tr.line.getLatLngs().map((l) => [l.lat, l.lng]));
    }
    if (!pts.length) return;
    this.map.fitBounds(L.latLngBounds(pts).pad(0.2), { maxZoom: 16 });
    this.fitted = true;
  },

  render(tr) {
    const age = tr.pos ? Math.max(0, Math.round((cm.serverNow() - tr.pos.ts) / 1000)) : null;
    tr.el.replaceChildren(
      el("span", { class: "swatch", "aria-hidden": "true" }),
      el("strong", { text: t("live.trip", { trip: tr.id, route: tr.route.name }) }),
      el("span", { class: "age", text: ` — ${age == null ? t("live.noPos") : t("live.pos", { t: age })}` }));
  },

  // After a reconnect the subscriptions are gone: follow every trip again.
  resubscribe() {
    this.subscribed.clear();
    if (current === "panel-live") this.refresh();
  },

  clear() {
    for (const id of [...this.trips.keys()]) this.drop(id);
    clearInterval(this.timer);
    this.fitted = false;
  },
};

// ---- login and session ------------------------------------------------------------------

function showLogin(msg) {
  $("whoami").textContent = "";
  showLoginBox(msg);
}

function showApp() {
  showAppBox();
  if (cm.user) $("whoami").textContent = t("whoami", { name: cm.user.name });
}

function setupLoginForm() {
  return setupSession(cm, t, {
    role: ROLE,
    wrongRole: "login.notAdmin",
    onUser: () => start(),
    showApp,
    showLogin,
    onOut: () => {
      live.clear();
      current = null;
      for (const p of document.querySelectorAll(".panel")) p.hidden = true;
    },
  });
}

// Logged in as an admin (fresh or resumed): the operations, then the live map.
function start() {
  showApp();
  if (!schema) loadSchema();
  if (!current) showPanel("panel-live", $("tab-live"));
  else live.resubscribe();
}

// ---- start ------------------------------------------------------------------------------

async function main() {
  buildLogin();
  fillStrings(t);
  showConn("connecting");
  const onSession = setupLoginForm();
  for (const b of document.querySelectorAll("#sidebar .tools button")) {
    b.addEventListener("click", () => showPanel(b.dataset.panel, b));
  }
  $("op-form").addEventListener("submit", submitOp);
  $("stop-form").addEventListener("submit", (ev) => editor.add(ev));
  $("cancel-stop").addEventListener("click", () => editor.cancel());
  $("route-form").addEventListener("submit", (ev) => editor.create(ev));
  editor.draw();
  cm.on("session", onSession);
  cm.on("ready", (user) => {
    if (user && user.role === ROLE) start();
    else if (!user && !$("app").hidden) onSession(null);
  });
  cm.on("trip.pos", (p) => live.move(p));
  cm.on("trip.ended", (e) => live.drop(e.trip));
  cm.on("trip.unsubscribed", (e) => live.drop(e.trip));
  setInterval(() => { for (const tr of live.trips.values()) live.render(tr); }, 1000);
  config = await loadConfig();
  if (cm.hasToken()) showApp();
  else showLogin();
  cm.start();
}

main();
