// faces.mjs: the parent and driver pages in headless Chromium against a live classmentd set up
// by tests/browser/run.sh (which passes a JSON file: base URL, SMS outbox, the demo route and
// its stops, the phones of its driver, parent and the school's admin, the parent's child's
// stop, the screenshot folder). A driver with an emulated GPS drives the demo route while the
// demo parent watches it and a parent of another route watches nothing; both lose the network
// for a while and carry on. Meanwhile the school's admin, at a desk, watches the bus on the
// console's live map, draws a new route on its map and puts a new student on it through the
// forms the console builds from sys.schema. Then a teacher takes the register of a class on
// the teacher page and marks a child absent while the child's parent watches the parent page
// for the notice, across a network drop. Prints one line per check and exits non-zero when
// any failed.
import fs from "node:fs";
import { chromium } from "playwright-core";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const BASE = cfg.base;
const WS_BASE = BASE.replace(/^http/, "ws");
// As root on a closed network: no sandbox, and nothing Chromium would fetch on its own.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true,
  hasTouch: true, locale: "en-US" };
const OTHER_PHONE = "+919000000099";
// Metres per second of the emulated bus: well under the server's 50 m/s limit, fast enough to
// keep the whole run short.
const SPEED = 30;
const TICK_MS = 200;
const OFFLINE_MS = 4000;
const WAIT_MS = 15000;
const DEADLINE_MS = 240000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
let passed = 0;
let failed = 0;

function check(name, ok, detail = "") {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  if (ok) {
    passed++;
    console.log(`ok   ${s}s ${name}${detail ? `: ${detail}` : ""}`);
  } else {
    failed++;
    console.log(`FAIL ${s}s ${name}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

// Polls fn until it returns something truthy; null after ms.
async function until(fn, ms = WAIT_MS, step = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(step);
  }
}

// ---- SMS codes from the outbox ------------------------------------------------------------

function outbox() {
  return fs.readFileSync(cfg.outbox, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function codeFor(phone, after) {
  const j = await until(() => outbox().slice(after).reverse().find((x) => x.to === phone), 5000);
  if (!j || !j.code) throw new Error(`no SMS code for ${phone} in the outbox`);
  return j.code;
}

async function login(page, path, phone) {
  await page.goto(BASE + path);
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#phone", phone);
  const n = outbox().length;
  await page.click("#send-code");
  await page.waitForSelector("#code-form:not([hidden])");
  await page.fill("#code", await codeFor(phone, n));
  await page.click("#verify");
}

// ---- geometry: a point `d` metres along the line through the stops --------------------------

const rad = (x) => (x * Math.PI) / 180;
function metres(a, b) {
  const k = Math.cos(rad((a.lat + b.lat) / 2));
  return Math.hypot(rad(b.lat - a.lat) * 6371008.8, rad(b.lon - a.lon) * 6371008.8 * k);
}
function along(stops, d) {
  for (let i = 0; i + 1 < stops.length; i++) {
    const len = metres(stops[i], stops[i + 1]);
    if (d <= len) {
      const f = d / len;
      return { latitude: stops[i].lat + f * (stops[i + 1].lat - stops[i].lat),
               longitude: stops[i].lon + f * (stops[i + 1].lon - stops[i].lon), accuracy: 8 };
    }
    d -= len;
  }
  const last = stops[stops.length - 1];
  return { latitude: last.lat, longitude: last.lon, accuracy: 8 };
}

// ---- what leaves the origin ---------------------------------------------------------------

const foreign = [];
const pageErrors = [];
let sockets = 0;
// The browser's own PDF viewer (chrome-extension:, chrome:) draws an opened report card: it is
// part of the browser, not a request to another host.
function allowed(url) {
  return url.startsWith(`${BASE}/`) || url === BASE || url.startsWith("data:") ||
    url.startsWith("chrome-extension://") || url.startsWith("chrome://");
}
function watch(ctx, page, who) {
  ctx.on("request", (r) => { if (!allowed(r.url())) foreign.push(`${who}: ${r.url()}`); });
  page.on("websocket", (ws) => {
    sockets++;
    if (!ws.url().startsWith(`${WS_BASE}/`)) foreign.push(`${who}: websocket ${ws.url()}`);
  });
  page.on("pageerror", (e) => pageErrors.push(`${who}: ${e.message}`));
}

async function newFace(browser, who, extra = {}) {
  const ctx = await browser.newContext({ ...PHONE, ...extra });
  ctx.setDefaultTimeout(WAIT_MS);
  const page = await ctx.newPage();
  watch(ctx, page, who);
  return { ctx, page };
}

// ---- the school's admin adds a second route with one parent (set-up, through the API) ------

// When the admin's last SMS code was asked for: a number gets a new one at most every 30 s.
let adminCodeAt = 0;

async function setUpOtherRoute(browser) {
  const { ctx, page } = await newFace(browser, "admin");
  const html = await (await fetch(`${BASE}/parent`)).text();
  const msgpack = html.match(/src="(\/vendor\/[^"]*msgpack[^"]*\.js)"/);
  if (!msgpack) throw new Error("/parent names no msgpack script");
  await page.goto(`${BASE}/index.html`);
  await page.addScriptTag({ url: msgpack[1] });
  const n = outbox().length;
  adminCodeAt = Date.now();
  await page.evaluate(async (phone) => {
    const { Classment } = await import("/common/classment.js");
    window.cm = new Classment({ app: "browser-test", tokenKey: "browser-test.admin" });
    window.cm.start();
    await window.cm.requestCode(phone);
  }, cfg.adminPhone);
  const code = await codeFor(cfg.adminPhone, n);
  const call = async (op, args) => {
    const r = await page.evaluate(([op, args]) => window.cm.call(op, args)
      .catch((e) => ({ failed: `${e.code}: ${e.message} ${e.field || ""}` })), [op, args]);
    if (r && r.failed) throw new Error(`${op}: ${r.failed}`);
    return r;
  };
  await page.evaluate(([p, c]) => window.cm.verify(p, c), [cfg.adminPhone, code]);
  const route = await call("route.create", { name: "Evening run", stops: [
    { name: "Far stop A", lat: 13.0500, lon: 77.6500 }, { name: "Far stop B", lat: 13.0540, lon: 77.6540 }] });
  const user = await call("user.create", { role: "parent", name: "Other parent", phone: OTHER_PHONE });
  const student = await call("student.create", { name: "Other child", admission_no: "BT-OTHER-1" });
  await call("guardian.link", { student: student.id, user: user.id, relationship: "mother" });
  await call("route.assign", { route: route.id, student: student.id, stop: route.stops[0].id });
  await setUpRecords(call);
  await ctx.close();
}

// ---- school records: a current year, class 5 A with its class teacher, one student with a
// parent, and one lesson a week in the teacher's timetable (set-up, through the API) ---------

const RECORDS_TEACHER_PHONE = "+919000000066";
const RECORDS_PARENT_PHONE = "+919000000055";
const LONE_TEACHER_PHONE = "+919000000044";
const records = {};

async function setUpRecords(call) {
  const y = new Date().getFullYear();
  const year = await call("year.create", { name: `Browser ${y}`, starts_on: `${y - 1}-06-01`, ends_on: `${y + 1}-05-31`, current: true });
  const teacher = await call("user.create", { role: "teacher", name: "Records teacher", phone: RECORDS_TEACHER_PHONE });
  const parent = await call("user.create", { role: "parent", name: "Records parent", phone: RECORDS_PARENT_PHONE });
  await call("user.create", { role: "teacher", name: "Teacher without a class", phone: LONE_TEACHER_PHONE });
  const cls = await call("class.create", { name: "5", seq: 5 });
  const section = await call("section.create", { class: cls.id, name: "A", class_teacher: teacher.id, room: "R5" });
  const student = await call("student.create", { name: "Asha Records", admission_no: "BT-REC-1",
    class: "5", section: "A", roll_no: 1 });
  await call("guardian.link", { student: student.id, user: parent.id, relationship: "mother" });
  const subject = await call("subject.create", { class: cls.id, name: "Mathematics" });
  await call("teacher.assign", { teacher: teacher.id, section: section.id, subject: subject.id });
  await call("timetable.bells.set", { weekday: 1, periods: [{ period: 1, starts: "08:00", ends: "08:45" }] });
  await call("timetable.set", { section: section.id, weekday: 1, period: 1, subject: subject.id, teacher: teacher.id });
  // A term with one exam marked, its report cards published before the parent logs in: the
  // parent finds the notice waiting and opens the card.
  const today = new Date().toISOString().slice(0, 10);
  const term = await call("term.create", { year: year.id, name: "Term 1", starts_on: `${y - 1}-06-01`, ends_on: today });
  const exam = await call("exam.create", { section: section.id, subject: subject.id, term: term.id, name: "Unit test", max_marks: 50 });
  await call("exam.marks.set", { exam: exam.id, entries: [{ student: student.id, marks: 42 }] });
  await call("report_card.publish", { term: term.id });
  Object.assign(records, { teacher: teacher.id, parent: parent.id, section: section.id, student: student.id });
}

// ---- the teacher's register: the teacher marks the child absent, the parent is told --------

async function teacherRegister(browser) {
  const R = await newFace(browser, "records parent");
  await login(R.page, "/parent", RECORDS_PARENT_PHONE);
  await R.page.waitForSelector("#app:not([hidden])");
  // The report card published before the parent logged in waits in the notices, and opens.
  const card = await until(async () => {
    const n = await R.page.locator("#notices").innerText();
    return /Asha Records's report card is ready/.test(n) ? n : null;
  }, 8000);
  check("the parent finds the report-card notice", !!card,
        card || `notices: ${(await R.page.locator("#notices").innerText()).replace(/\n/g, " | ")}`);
  if (card) {
    const [popup] = await Promise.all([R.ctx.waitForEvent("page"),
      R.page.locator("#notices button.notice-action").first().click()]);
    const url = popup.url() === "about:blank" ? (await popup.waitForURL(/report-cards/), popup.url()) : popup.url();
    const res = await R.ctx.request.get(url);
    check("the report card opens as a PDF from a signed link", /\/v1\/report-cards\/.+\.pdf$/.test(url) &&
          res.status() === 200 && /application\/pdf/.test(res.headers()["content-type"] || ""),
          `${url} -> ${res.status()} ${res.headers()["content-type"]}`);
    await popup.close();
  }
  const T = await newFace(browser, "teacher");
  await login(T.page, "/teacher", RECORDS_TEACHER_PHONE);
  await T.page.waitForSelector("#app:not([hidden])");
  const button = T.page.locator(`#sections button[data-section="${records.section}"]`);
  await button.waitFor();
  check("teacher sees their section as a button", (await T.page.locator("#sections button").count()) === 1,
        await button.innerText());
  const week = await until(async () => { const w = await T.page.locator("#week").innerText(); return /Mathematics/.test(w) ? w : null; }, 5000);
  check("teacher sees their week", !!week, (week || await T.page.locator("#week-msg").innerText()).replace(/\s+/g, " "));

  await button.click();
  const row = T.page.locator(`#rows [data-student="${records.student}"]`);
  await row.waitFor();
  const status = row.locator("button.status");
  check("the register lists the student, unmarked as present",
        (await status.getAttribute("data-status")) === "present" && /Asha Records/.test(await row.innerText()),
        (await row.innerText()).replace(/\s+/g, " "));
  await status.click();
  check("tapping the status cycles it", (await status.getAttribute("data-status")) === "absent", await status.innerText());
  await T.page.click("#save");
  const saved = await until(async () => { const m = await T.page.locator("#save-msg").innerText(); return /Saved: 1 changed/.test(m) ? m : null; }, 8000);
  check("teacher saved the register", !!saved, saved || await T.page.locator("#save-msg").innerText());
  fs.mkdirSync(cfg.shots, { recursive: true });
  await T.page.screenshot({ path: `${cfg.shots}/teacher.png`, fullPage: true });

  const told = await until(async () => {
    const n = await R.page.locator("#notices").innerText();
    return /Asha Records was marked absent today/.test(n) ? n : null;
  }, 8000);
  check("the parent is told the child was marked absent", !!told,
        told || `notices: ${(await R.page.locator("#notices").innerText()).replace(/\n/g, " | ")}`);

  // Read once shown: a reload lists nothing new.
  await sleep(1000);
  await R.page.reload();
  await R.page.waitForSelector("#app:not([hidden])");
  await until(async () => /online/.test(await R.page.locator("#conn").getAttribute("class")), 5000);
  await sleep(1500);
  const after = await R.page.locator("#notices").innerText();
  check("a shown notice is marked read (not listed again)", !/absent/.test(after), after || "(no notices)");

  // Both phones offline; the teacher changes the mark meanwhile, saves once back: the parent,
  // who missed the event, gets the notice from notice.list on reconnecting.
  await R.ctx.setOffline(true);
  await T.ctx.setOffline(true);
  await sleep(1000);
  await status.click();
  const tConn = await T.page.locator("#conn").getAttribute("class");
  check("the register stays usable offline", /offline/.test(tConn) &&
        (await status.getAttribute("data-status")) === "late", `${tConn}: ${await status.innerText()}`);
  await T.ctx.setOffline(false);
  const back = await until(async () => /online/.test(await T.page.locator("#conn").getAttribute("class")), 12000);
  check("teacher's page reconnects", !!back, await T.page.locator("#conn").innerText());
  await T.page.click("#save");
  const saved2 = await until(async () => { const m = await T.page.locator("#save-msg").innerText(); return /Saved: 1 changed/.test(m) ? m : null; }, 8000);
  check("teacher saved the correction after the reconnect", !!saved2, saved2 || await T.page.locator("#save-msg").innerText());
  await R.ctx.setOffline(false);
  const late = await until(async () => {
    const n = await R.page.locator("#notices").innerText();
    return /Asha Records was marked late today/.test(n) ? n : null;
  }, 15000);
  check("the parent gets the missed notice on reconnecting (notice.list)", !!late,
        late || `notices: ${(await R.page.locator("#notices").innerText()).replace(/\n/g, " | ")}`);

  // The calendar link: an absolute URL on this origin that serves the teacher's week.
  await T.page.click("#calendar-get");
  const link = T.page.locator("#calendar-link:not([hidden])");
  await link.waitFor();
  const href = await link.getAttribute("href");
  const ics = href && href.startsWith(`${BASE}/v1/calendar/`) ? await fetch(href) : null;
  const body = ics ? await ics.text() : "";
  check("calendar link on the same origin serves the week", !!ics && ics.ok && /BEGIN:VCALENDAR/.test(body) &&
        /Mathematics/.test(body), `${href} ${ics ? ics.status : ""}`);

  // Another role is told the page is for teachers.
  const O = await newFace(browser, "parent at the teacher page");
  await login(O.page, "/teacher", OTHER_PHONE);
  const away = await until(async () => {
    const m = await O.page.locator("#login-msg").innerText();
    return /for teachers/.test(m) && await O.page.locator("#app").isHidden() ? m : null;
  }, 8000);
  check("a parent is turned away from the teacher page", !!away, away || await O.page.locator("#login-msg").innerText());
  await O.ctx.close();

  // A teacher with no section is told so.
  const L = await newFace(browser, "teacher without a section");
  await login(L.page, "/teacher", LONE_TEACHER_PHONE);
  await L.page.waitForSelector("#app:not([hidden])");
  const lone = await until(async () => {
    const m = await L.page.locator("#sections-msg").innerText();
    return /not assigned to any section/.test(m) ? m : null;
  }, 8000);
  check("a teacher without a section is told so", !!lone && (await L.page.locator("#sections button").count()) === 0,
        lone || await L.page.locator("#sections-msg").innerText());
  await L.ctx.close();
  await R.ctx.close();
  await T.ctx.close();
}

// ---- the admin console: a route drawn on the map, a student put on it by generated forms ----

const TEACHER_PHONE = "+919000000077";
const DESK = { viewport: { width: 1366, height: 900 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false };

async function adminConsole(browser) {
  const { page } = await newFace(browser, "admin console", DESK);
  await sleep(Math.max(0, adminCodeAt + 31000 - Date.now()));
  await login(page, "/admin", cfg.adminPhone);
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForSelector('#sidebar [data-op="route.assign"]');
  const forbiddenOps = await page.locator('#sidebar [data-op="trip.start"], #sidebar [data-op="auth.otp.request"]').count();
  check("admin console lists the admin's operations from sys.schema", forbiddenOps === 0,
        `${await page.locator("#sidebar [data-op]").count()} operations`);

  // The demo trip is still running: the live map follows it.
  const liveTrip = await until(async () => (await page.locator("#live-trips [data-trip]").count()) > 0 &&
    (await page.locator("#live-map .bus-icon").count()) > 0, 10000);
  check("admin's live map shows the running bus", !!liveTrip,
        (await page.locator("#live-trips").innerText()).replace(/\s+/g, " "));

  // Three stops placed by clicking the map, each named in the page's own field.
  await page.click("#tab-route-editor");
  const map = page.locator("#route-map");
  await map.waitFor();
  const box = await map.boundingBox();
  const names = ["Admin stop A", "Admin stop B", "Admin stop C"];
  for (const [i, name] of names.entries()) {
    await map.click({ position: { x: box.width * (0.3 + 0.2 * i), y: box.height * (0.6 - 0.1 * i) } });
    await page.waitForSelector("#stop-form:not([hidden])");
    await page.fill("#stop-name", name);
    await page.click("#add-stop");
    await page.waitForSelector(`#stops li:nth-child(${i + 1})`);
  }
  // Reorder and back: the list follows.
  await page.click("#stops li:nth-child(2) .up");
  const swapped = await page.locator("#stops li:first-child .stop-name").innerText();
  await page.click("#stops li:nth-child(2) .up");
  check("route editor reorders stops", swapped.startsWith("Admin stop B"), swapped);
  await page.fill("#route-name", "Admin drawn route");
  fs.mkdirSync(cfg.shots, { recursive: true });
  await page.screenshot({ path: `${cfg.shots}/admin.png` });
  await page.click("#create-route");
  const msg = page.locator("#route-msg[data-route]");
  await msg.waitFor();
  const routeId = Number(await msg.getAttribute("data-route"));
  const stopIds = (await msg.getAttribute("data-stops")).split(" ").map(Number);
  check("admin created a route by clicking the map", routeId > 0 && stopIds.length === 3, await msg.innerText());

  // A student through the generated student.create form, then route.assign.
  const result = (key) => page.locator(`#op-result dd[data-key="${key}"]`);
  await page.click('#sidebar [data-op="student.create"]');
  await page.fill("#arg-name", "Admin's new rider");
  await page.fill("#arg-admission_no", "BT-ADMIN-1");
  await page.click("#op-send");
  await result("id").waitFor();
  const studentId = Number(await result("id").innerText());

  await page.click('#sidebar [data-op="route.assign"]');
  await page.fill("#arg-route", String(routeId));
  await page.fill("#arg-student", "999999");
  await page.click("#op-send");
  const refused = await until(async () => {
    const m = await page.locator("#op-msg").innerText();
    return m && !/Sending/.test(m) && (await page.locator(".field.invalid #arg-student").count()) ? m : null;
  }, 5000);
  check("a refused form names the field in plain words", !!refused, refused || await page.locator("#op-msg").innerText());
  await page.fill("#arg-student", String(studentId));
  await page.fill("#arg-stop", String(stopIds[1]));
  await page.click("#op-send");
  const done = await until(async () => (await page.locator("#op-result .ok").count()) > 0, 5000);
  check("route.assign sent through the generated form", !!done, await page.locator("#op-msg").innerText());

  // Checked through the API, on the console's own session.
  const route = await page.evaluate(async (id) => {
    const { Classment } = await import("/common/classment.js");
    const c = new Classment({ app: "browser-test", tokenKey: "classment.admin.token" });
    c.start();
    return c.call("route.get", { id }).catch((e) => ({ failed: `${e.code}: ${e.message}` }));
  }, routeId);
  const rider = route.students && route.students.find((s) => s.id === studentId);
  check("the route has 3 stops and the student rides it", route.stops && route.stops.length === 3 &&
        route.stops.map((s) => s.name).join() === names.join() && rider && rider.stop === stopIds[1],
        JSON.stringify(route).slice(0, 300));

  // nil where the schema says it means something: bus.update's driver, through the form's
  // "clear" box, takes the driver off the bus; then the driver is put back through the API.
  const api = (op, args) => page.evaluate(async ([op, args]) => {
    const { Classment } = await import("/common/classment.js");
    const c = new Classment({ app: "browser-test", tokenKey: "classment.admin.token" });
    c.start();
    return c.call(op, args).catch((e) => ({ failed: `${e.code}: ${e.message}` }));
  }, [op, args]);
  const buses = await api("bus.list", {});
  const bus = Array.isArray(buses) && buses.find((b) => b.driver);
  await page.click('#sidebar [data-op="bus.update"]');
  await page.fill("#arg-id", String(bus ? bus.id : 0));
  await page.check("#arg-driver-clear");
  const clearedDisabled = await page.locator("#arg-driver").isDisabled();
  await page.click("#op-send");
  await until(async () => (await page.locator("#op-result .ok").count()) > 0, 5000);
  const cleared = bus ? await api("bus.get", { id: bus.id }) : {};
  check("the console sends nil where the schema allows it (bus driver cleared)",
        !!bus && clearedDisabled && cleared.driver === null, JSON.stringify(cleared).slice(0, 200));
  if (bus) await api("bus.update", { id: bus.id, driver: bus.driver.id });

  // A teacher made through the generated user.create form (its role an enum select) is turned
  // away from the console.
  await page.click('#sidebar [data-op="user.create"]');
  await page.selectOption("#arg-role", "teacher");
  await page.fill("#arg-name", "Console teacher");
  await page.fill("#arg-phone", TEACHER_PHONE);
  await page.click("#op-send");
  await result("id").waitFor();
  const T = await newFace(browser, "teacher at the console", DESK);
  await login(T.page, "/admin", TEACHER_PHONE);
  const turnedAway = await until(async () => {
    const m = await T.page.locator("#login-msg").innerText();
    return /for school admins/.test(m) && await T.page.locator("#app").isHidden() ? m : null;
  }, 8000);
  check("a teacher is turned away from the admin console", !!turnedAway,
        turnedAway || await T.page.locator("#login-msg").innerText());
}

// ---- the run ------------------------------------------------------------------------------

async function main() {
  for (const path of ["/parent", "/driver", "/admin", "/teacher"]) {
    const r = await fetch(BASE + path);
    const csp = r.headers.get("content-security-policy") || "";
    // Without a tile server the policy names no host but the server's own.
    const hosts = (csp.match(/\b(?:https?|wss?):\/\/[^\s;]+/g) || []).filter((h) => !h.endsWith(`://${new URL(BASE).host}`));
    check(`Content-Security-Policy on ${path}`, r.ok && /default-src 'self'/.test(csp) && !hosts.length,
          `${r.status} ${csp || "no header"}`);
  }

  // launch() gives every run a fresh, empty profile (user-data dir) of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CLASSMENT_CHROMIUM || "/usr/bin/chromium", args: ARGS });
  try {
    await setUpOtherRoute(browser);
    check("admin set up a second route with its own parent", true);

    const stops = cfg.stops;
    const childIdx = stops.findIndex((s) => s.id === cfg.childStop);
    if (childIdx < 1) throw new Error(`the child's stop ${cfg.childStop} is not past the first stop`);
    const childStop = stops[childIdx];
    let target = 0;
    for (let i = 0; i < childIdx; i++) target += metres(stops[i], stops[i + 1]);

    // The demo parent and the other route's parent log in before the trip starts.
    const P = await newFace(browser, "parent");
    await login(P.page, "/parent", cfg.parentPhone);
    await P.page.waitForSelector("#app:not([hidden])");
    check("parent logged in by SMS code", true);
    const O = await newFace(browser, "other parent");
    await login(O.page, "/parent", OTHER_PHONE);
    await O.page.waitForSelector("#app:not([hidden])");
    // Every event that reaches the other parent's socket: none may be about a trip. Event names
    // are plain bytes inside the msgpack frames.
    const oEvents = [];
    O.page.on("websocket", (ws) => ws.on("framereceived", (f) => {
      const m = Buffer.from(f.payload).toString("latin1").match(/trip\.(?:pos|started|ended|stop\.\w+)/);
      if (m) oEvents.push(m[0]);
    }));
    await O.page.reload();
    await O.page.waitForSelector("#app:not([hidden])");
    const noTrips = await until(async () => {
      const m = await O.page.locator("#trips-msg").innerText();
      return m && !/Loading/i.test(m) ? m : null;
    }, 5000);
    check("other route's parent logged in, no trip", !!noTrips, noTrips || "no message");

    // The driver, standing at the first stop.
    const D = await newFace(browser, "driver", { geolocation: along(stops, 0) });
    const cdp = await D.ctx.newCDPSession(D.page);
    const { targetInfo } = await cdp.send("Target.getTargetInfo");
    // Playwright's own grant would deny the wake lock: grant both through CDP.
    await cdp.send("Browser.grantPermissions", { permissions: ["geolocation", "wakeLockScreen"],
      origin: BASE, browserContextId: targetInfo.browserContextId });
    await login(D.page, "/driver", cfg.driverPhone);
    await D.page.waitForSelector("#pick:not([hidden])");
    // The school's routes come from route.list as big radio buttons named by route.
    const morning = D.page.locator("#route-list label.choice", { hasText: /^\s*Morning run\s*$/ });
    await morning.waitFor({ timeout: WAIT_MS });
    const offered = (await D.page.locator("#route-list label.choice").allInnerTexts()).join(", ");
    check("driver's picker lists the school's routes",
          (await morning.locator("input").getAttribute("value")) === String(cfg.route), offered);
    await morning.locator("input").check();
    await D.page.click("#start");
    await D.page.waitForSelector("#trip:not([hidden])");
    const tripRoute = await D.page.locator("#trip-route").innerText();
    check("driver logged in by SMS code and started the trip", /Morning run/.test(tripRoute),
          tripRoute);

    const entry = P.page.locator("#trips [data-trip]");
    const appeared = await until(async () => (await entry.count()) === 1, 10000);
    check("parent sees the trip appear", !!appeared,
          appeared ? (await entry.locator("h3").innerText()).replace(/\s+/g, " ") : "no [data-trip] entry");
    if (!appeared) throw new Error("no trip on the parent's page: cannot go on");

    // The bus moves along the route to the child's stop in the background.
    const mover = { d: 0, stop: false };
    const moving = (async () => {
      while (!mover.stop) {
        mover.d = Math.min(target, mover.d + (SPEED * TICK_MS) / 1000);
        await D.ctx.setGeolocation(along(stops, mover.d));
        await sleep(TICK_MS);
      }
    })();

    const bus = P.page.locator(".leaflet-marker-pane .bus-icon");
    const busAt = async () => ((await bus.count()) ? bus.first().evaluate((e) => e.style.transform) : null);
    const first = await until(busAt, 10000);
    check("parent sees the bus marker", !!first, first || "no marker");
    const moved = first && await until(async () => { const b = await busAt(); return b && b !== first ? b : null; }, 8000);
    check("the bus marker moves", !!moved, `${first} -> ${moved}`);
    const state = await entry.locator(".trip-state").innerText();
    check("trip state shown", /On the way|Arriving soon/.test(state), state);
    const etaText = await until(async () => {
      const e = await entry.locator(".eta").innerText();
      return /Arriv/.test(e) && !/choose your stop|waiting/.test(e) ? e : null;
    }, 8000);
    check("ETA to the child's stop shown", !!etaText, etaText || await entry.locator(".eta").innerText());
    const ageText = await entry.locator(".age").innerText();
    check("position age shown", /Position \d+ s old/.test(ageText), ageText);
    const accepted = async () => Number(await D.page.locator("#accepted").innerText()) || 0;
    const acceptedBefore = await until(async () => { const a = await accepted(); return a > 0 ? a : null; }, 5000);
    check("driver's positions accepted", !!acceptedBefore, `${acceptedBefore}`);

    // The network drops on both phones, then comes back.
    await P.ctx.setOffline(true);
    await D.ctx.setOffline(true);
    const ageOf = async () => Number(((await entry.locator(".age").innerText()).match(/(\d+) s/) || [])[1]);
    await sleep(1000);
    const age1 = await ageOf();
    const busOffline = await busAt();
    await sleep(OFFLINE_MS - 1000);
    const age2 = await ageOf();
    check("position age ticks while offline", age2 > age1, `${age1} s -> ${age2} s`);
    // The pages mark the state with classes: parent #conn.offline; driver #conn.offline and
    // #sending.bad (not sending).
    const conn = async () => {
      const p = P.page.locator("#conn");
      const d = D.page.locator("#conn");
      const sending = D.page.locator("#sending");
      return { parent: await p.getAttribute("class"), driver: await d.getAttribute("class"),
        sending: await sending.getAttribute("class"),
        text: `parent "${await p.innerText()}", driver "${await d.innerText()}" / "${await sending.innerText()}"` };
    };
    const off = await conn();
    check("both pages say they are offline", /\boffline\b/.test(off.parent) &&
          /\boffline\b/.test(off.driver) && /\bbad\b/.test(off.sending), off.text);
    const acceptedOffline = await accepted();
    await P.ctx.setOffline(false);
    await D.ctx.setOffline(false);
    const resumed = await until(async () => { const b = await busAt(); return b && b !== busOffline ? b : null; }, 12000);
    check("parent sees new positions after the network is back", !!resumed, `${busOffline} -> ${resumed}`);
    const grown = await until(async () => { const a = await accepted(); return a > acceptedOffline ? a : null; }, 12000);
    check("driver's accepted count grows after the network is back", !!grown, `${acceptedOffline} -> ${grown}`);
    const ageBack = await ageOf();
    check("position age fresh again", resumed && ageBack <= 3, `${ageBack} s`);
    let on = null;
    const connOn = await until(async () => {
      on = await conn();
      return /\bonline\b/.test(on.parent) && !/\boffline\b/.test(on.driver) && !/\bbad\b/.test(on.sending);
    }, 5000);
    check("both pages say they are connected again", !!connOn, on.text);

    // On to the child's stop: the arrived notice.
    const arrivedText = `has arrived at ${childStop.name}`;
    const arrived = await until(async () => (await P.page.locator("#notices").innerText()).includes(arrivedText), 30000);
    check(`parent told the bus arrived at ${childStop.name}`, !!arrived,
          arrived ? "" : `notices: ${(await P.page.locator("#notices").innerText()).replace(/\n/g, " | ")}`);
    const stateArrived = await entry.locator(".trip-state").innerText();
    check("trip state says arrived", /Arrived/.test(stateArrived), stateArrived);
    mover.stop = true;
    await moving;

    const oTrips = await O.page.locator("#trips [data-trip]").count();
    const oBus = await O.page.locator(".bus-icon").count();
    const oMsg = await O.page.locator("#trips-msg").innerText();
    check("other route's parent sees no trip and no bus", oTrips === 0 && oBus === 0 && oEvents.length === 0,
          `${oTrips} trips, ${oBus} buses, ${oEvents.length} trip events, "${oMsg}"`);

    fs.mkdirSync(cfg.shots, { recursive: true });
    await P.page.screenshot({ path: `${cfg.shots}/parent.png` });
    await D.page.screenshot({ path: `${cfg.shots}/driver.png` });
    check("screenshots written", true, `${cfg.shots}/parent.png, driver.png`);

    await adminConsole(browser);
    await teacherRegister(browser);

    // The driver ends the trip; the parent sees it end.
    await D.page.click("#end");
    await D.page.click("#end-yes");
    await D.page.waitForSelector("#pick:not([hidden])");
    // Back at the picker, the route this phone last started is the default choice.
    const picked = await until(() => D.page.locator("#route-list input:checked")
      .getAttribute("value", { timeout: 500 }).catch(() => null), 5000);
    check("driver's picker defaults to the route last started", picked === String(cfg.route),
          `${picked}`);
    const ended = await until(async () => /ended/i.test(await entry.locator(".trip-state").innerText()), 8000);
    check("parent sees the trip end", !!ended, await entry.locator(".trip-state").innerText());

    check("no request left the server's origin", foreign.length === 0 && sockets >= 3,
          foreign.length ? foreign.slice(0, 5).join("; ") : `${sockets} websockets, all to ${WS_BASE}`);
    check("no uncaught error on the pages", pageErrors.length === 0, pageErrors.slice(0, 3).join("; "));
  } finally {
    await browser.close();
  }
}

const deadline = setTimeout(() => {
  check("finished in time", false, `still running after ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
main().catch((e) => check("run", false, e.stack || String(e))).finally(() => {
  clearTimeout(deadline);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
