// strings.js: every text the teacher's page shows, in one object per language. A translation
// (Hindi: add `hi`) copies `en` and changes the values; {name} marks a value filled in. The
// texts the pages share (connection, login box) are in /common/strings.js.
import { translator } from "/common/text.js";

export const STRINGS = {
  en: {
    title: "Class register",
    login: {
      notTeacher: "This page is for teachers. Please use the page for your role.",
    },
    loading: "Loading…",
    sections: {
      heading: "Your classes",
      none: "You are not assigned to any section this year. Please ask the school office.",
      failed: "Could not load your classes: {msg}",
      name: "{class} {section}",
    },
    register: {
      back: "‹ All classes",
      heading: "Register: {name}",
      day: "{day} (today)",
      hint: "Everyone starts as present. Tap a status to change it, then press Save.",
      empty: "No students in this section.",
      failed: "Could not load the register: {msg}",
      save: "Save",
      saving: "Saving…",
      saved: "Saved: {n} changed",
      notSaved: "Not saved: {msg}",
      notSavedField: "Not saved: {msg} ({field})",
      unsaved: "Changes not saved yet.",
      marked: "Already marked today: saving again corrects it.",
      notMarked: "Not marked yet today.",
      left: "left the section",
      statusLabel: "{name}: {status}. Tap to change.",
      noteLabel: "Note for {name} (optional)",
      noteHint: "Note",
    },
    status: { present: "Present", absent: "Absent", late: "Late", leave: "On leave" },
    week: {
      heading: "Your week",
      none: "No lessons in your timetable.",
      failed: "Could not load your timetable.",
      days: ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
      slot: "P{period} {time} {subject}, {section}",
      room: " · {room}",
    },
    calendar: {
      heading: "Subscribe in your calendar",
      hint: "Your timetable in your phone's calendar app. Getting a new link stops the old one.",
      get: "Get my calendar link",
      link: "Subscribe in your calendar",
      webcal: "Open in the calendar app (webcal)",
      failed: "Could not make the link: {msg}",
      made: "Copy this link into your calendar app, or tap it:",
    },
    errors: {
      offline: "No connection. Your marks are still here: press Save again when connected.",
      unavailable: "The connection was lost. Press Save again.",
      timeout: "No answer from the server. Press Save again.",
      forbidden: "You may not change this register.",
    },
  },
};

export const { S, t } = translator(STRINGS);
