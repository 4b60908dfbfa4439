// teacher.js: the teacher's page. Log in (phone, then SMS code), pick one of one's sections
// (section.list), take today's register (attendance.get, then attendance.mark with every row
// in one Save), see one's week (timetable.teacher) and get a calendar feed link
// (calendar.token.create). The session survives reloads and network drops
// (web/common/classment.js reconnects and resumes; this page then reloads what it shows,
// keeping marks not yet saved).
import { Classment } from "/common/classment.js";
import { buildLogin, setupSession, showAppBox, showLoginBox } from "/common/login.js";
import { fillStrings } from "/common/text.js";
import { t } from "/teacher/strings.js";

const STATUSES = ["present", "absent", "late", "leave"];
const $ = (id) => document.getElementById(id);
const cm = new Classment({ app: "teacher", onState: showConn });

let sections = [];          // section.list
let current = null;         // {id, name, day, rows: [{student, name, roll_no, status, note,
                            //   enrolled, el}]}
let dirty = false;          // marks changed since the register was loaded or saved

function showConn(state) {
  $("conn").textContent = t(`conn.${state}`);
  $("conn").className = state;
}

function errText(e) {
  if (e && t(`errors.${e.code}`) !== `errors.${e.code}`) return t(`errors.${e.code}`);
  return (e && (e.message || e.code)) || t("login.failed");
}

const sectionName = (s) => t("sections.name", { class: s.class ? s.class.name : "", section: s.name });

// ---- sections -----------------------------------------------------------------------------

async function loadSections() {
  $("sections-msg").textContent = sections.length ? "" : t("loading");
  try {
    sections = await cm.call("section.list");
  } catch (e) {
    $("sections-msg").textContent = t("sections.failed", { msg: errText(e) });
    return;
  }
  const ul = $("sections");
  ul.replaceChildren();
  for (const s of sections) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.dataset.section = String(s.id);
    b.textContent = sectionName(s);
    b.addEventListener("click", () => openRegister(s));
    li.append(b);
    ul.append(li);
  }
  $("sections-msg").textContent = sections.length ? "" : t("sections.none");
}

// ---- the register -------------------------------------------------------------------------

function showStatus(row) {
  const b = row.el.status;
  b.dataset.status = row.status;
  b.textContent = t(`status.${row.status}`);
  b.setAttribute("aria-label", t("register.statusLabel", { name: row.name, status: t(`status.${row.status}`) }));
}

function setDirty(d) {
  dirty = d;
  if (d) $("save-msg").textContent = t("register.unsaved");
}

function makeRow(row, i) {
  const li = document.createElement("li");
  li.className = "row";
  li.dataset.student = String(row.student);
  const who = document.createElement("p");
  who.className = "who";
  const roll = document.createElement("span");
  roll.className = "roll";
  roll.textContent = row.roll_no != null ? String(row.roll_no) : "–";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = row.name;
  who.append(roll, " ", name);
  const status = document.createElement("button");
  status.type = "button";
  status.className = "status";
  const note = document.createElement("input");
  note.type = "text";
  note.className = "note";
  note.id = `note-${i}`;
  note.maxLength = 200;
  note.placeholder = t("register.noteHint");
  note.setAttribute("aria-label", t("register.noteLabel", { name: row.name }));
  note.value = row.note || "";
  li.append(who, status, note);
  row.el = { li, status, note };
  if (!row.enrolled) {
    // Marked here that day but has left or moved since: shown, not sent.
    li.classList.add("left");
    status.disabled = true;
    note.disabled = true;
    const l = document.createElement("span");
    l.className = "hint";
    l.textContent = ` (${t("register.left")})`;
    who.append(l);
  }
  status.addEventListener("click", () => {
    row.status = STATUSES[(STATUSES.indexOf(row.status) + 1) % STATUSES.length];
    showStatus(row);
    setDirty(true);
  });
  note.addEventListener("input", () => { row.note = note.value; setDirty(true); });
  showStatus(row);
  return li;
}

async function openRegister(s) {
  current = { id: s.id, name: sectionName(s), day: null, rows: [] };
  dirty = false;
  $("pick").hidden = true;
  $("register").hidden = false;
  $("register-h").textContent = t("register.heading", { name: current.name });
  $("register-day").textContent = "";
  $("rows").replaceChildren();
  $("save-msg").textContent = "";
  $("save").disabled = true;
  $("register-h").focus();
  await loadRegister();
}

async function loadRegister() {
  const sec = current;
  if (!sec) return;
  $("register-msg").textContent = t("loading");
  let reg, enrolled;
  try {
    // The register's rows, and who is enrolled now (only they may be marked).
    [reg, enrolled] = await Promise.all([
      cm.call("attendance.get", { section: sec.id }),
      cm.call("section.get", { id: sec.id }),
    ]);
  } catch (e) {
    if (sec === current) $("register-msg").textContent = t("register.failed", { msg: errText(e) });
    return;
  }
  if (sec !== current) return;
  const ids = new Set((enrolled.students || []).map((x) => x.id));
  sec.day = reg.day;
  sec.rows = reg.students.map((r) => ({
    student: r.student, name: r.name, roll_no: r.roll_no,
    status: r.status || "present", note: r.note || "", enrolled: ids.has(r.student),
  }));
  $("register-day").textContent = t("register.day", { day: reg.day });
  $("rows").replaceChildren(...sec.rows.map(makeRow));
  const any = sec.rows.some((r) => r.enrolled);
  $("register-msg").textContent = !sec.rows.length ? t("register.empty")
    : reg.marked ? t("register.marked") : t("register.notMarked");
  $("save").disabled = !any;
}

async function save() {
  const sec = current;
  if (!sec) return;
  const rows = sec.rows.filter((r) => r.enrolled);
  const entries = rows.map((r) => {
    const e = { student: r.student, status: r.status };
    const note = r.note.trim();
    if (note) e.note = note;
    return e;
  });
  $("save").disabled = true;
  $("save-msg").textContent = t("register.saving");
  $("save-msg").className = "msg";
  try {
    const r = await cm.call("attendance.mark", { section: sec.id, day: sec.day || undefined, entries });
    if (sec !== current) return;
    dirty = false;
    for (const row of rows) row.el.li.classList.remove("invalid");
    $("save-msg").textContent = t("register.saved", { n: r.changed });
    $("save-msg").className = "msg ok";
    $("register-msg").textContent = t("register.marked");
  } catch (e) {
    if (sec !== current) return;
    // entries[i].x names a row: say whose.
    let field = e.field || "";
    const m = /^entries\[(\d+)\]/.exec(field);
    if (m && rows[+m[1]]) {
      field = `${rows[+m[1]].name}: ${field}`;
      rows[+m[1]].el.li.classList.add("invalid");
    }
    $("save-msg").textContent = field ? t("register.notSavedField", { msg: errText(e), field })
      : t("register.notSaved", { msg: errText(e) });
    $("save-msg").className = "msg bad";
  } finally {
    if (sec === current) $("save").disabled = false;
  }
}

function closeRegister() {
  current = null;
  dirty = false;
  $("register").hidden = true;
  $("pick").hidden = false;
  $("sections-h").focus();
}

// ---- the week and the calendar ------------------------------------------------------------

async function loadWeek() {
  let slots;
  try {
    slots = await cm.call("timetable.teacher");
  } catch {
    $("week-msg").textContent = t("week.failed");
    return;
  }
  const days = new Map();
  for (const s of slots) {
    if (!days.has(s.weekday)) days.set(s.weekday, []);
    days.get(s.weekday).push(s);
  }
  const ol = $("week");
  ol.replaceChildren();
  for (const [wd, list] of [...days].sort((a, b) => a[0] - b[0])) {
    const li = document.createElement("li");
    const d = document.createElement("strong");
    d.textContent = t(`week.days.${wd}`);
    const ul = document.createElement("ul");
    for (const s of list) {
      const x = document.createElement("li");
      x.textContent = t("week.slot", {
        period: s.period, time: s.starts || "", subject: s.subject ? s.subject.name : "",
        section: s.section ? sectionName(s.section) : "",
      }) + (s.room ? t("week.room", { room: s.room }) : "");
      ul.append(x);
    }
    li.append(d, ul);
    ol.append(li);
  }
  $("week-msg").textContent = slots.length ? "" : t("week.none");
}

// A new token replaces the old one (whose feed then stops), so the link is made only when
// asked for, never on load.
async function getCalendarLink() {
  $("calendar-get").disabled = true;
  try {
    const r = await cm.call("calendar.token.create");
    const url = new URL(r.path, location.origin).href;
    $("calendar-link").href = url;
    $("calendar-link").hidden = false;
    $("calendar-webcal").href = url.replace(/^https?:/, "webcal:");
    $("calendar-webcal").hidden = false;
    $("calendar-msg").textContent = t("calendar.made");
  } catch (e) {
    $("calendar-msg").textContent = t("calendar.failed", { msg: errText(e) });
  } finally {
    $("calendar-get").disabled = false;
  }
}

// ---- login and session --------------------------------------------------------------------

function load() {
  loadSections();
  loadWeek();
  // A register open across a reconnect is fetched again unless it holds unsaved marks.
  if (current && !dirty) loadRegister();
}

// At log-out nothing of the previous user stays on the page (phones are shared).
function clearApp() {
  sections = [];
  current = null;
  dirty = false;
  $("sections").replaceChildren();
  $("rows").replaceChildren();
  $("week").replaceChildren();
  $("register").hidden = true;
  $("pick").hidden = false;
  for (const id of ["sections-msg", "register-msg", "save-msg", "week-msg", "calendar-msg"]) $(id).textContent = "";
  $("calendar-link").hidden = true;
  $("calendar-webcal").hidden = true;
}

function main() {
  buildLogin({ hint: true });
  fillStrings(t);
  showConn("connecting");
  const onSession = setupSession(cm, t, {
    role: "teacher",
    wrongRole: "login.notTeacher",
    onUser: () => load(),
    onIn: () => $("sections-h").focus(),
    onOut: clearApp,
  });
  $("save").addEventListener("click", save);
  $("back").addEventListener("click", closeRegister);
  $("calendar-get").addEventListener("click", getCalendarLink);
  if (cm.hasToken()) showAppBox();
  else showLoginBox();
  cm.on("session", onSession);
  cm.on("ready", (user) => {
    if (user && user.role === "teacher") load();
    else if (!user && !$("app").hidden) onSession(null);
  });
  cm.start();
}

main();
