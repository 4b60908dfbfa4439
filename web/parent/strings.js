// strings.js: every text the parent page shows, in one object per language. A translation
// (Hindi: add `hi`) copies `en` and changes the values; {name} marks a value filled in.
export const STRINGS = {
  en: {
    title: "Your child's bus",
    conn: { connecting: "Connecting…", online: "Connected", offline: "Offline: reconnecting…" },
    login: {
      heading: "Log in",
      phoneLabel: "Mobile number",
      phoneHint: "The number the school has for you, e.g. 98765 43210",
      sendCode: "Send code",
      sendAgain: "Send the code again",
      wait: "Send again in {s} s",
      codeLabel: "6-digit code from the SMS",
      verify: "Log in",
      sent: "If this number is registered, a code is on its way by SMS.",
      badPhone: "That does not look like a mobile number.",
      badCode: "Enter the 6 digits from the SMS.",
      wrongCode: "Wrong or expired code. Try again or ask for a new code.",
      suspended: "Your school's account is not active. Please contact the school.",
      rateLimited: "Too many tries. Please wait {s} seconds.",
      offline: "No connection. Check your network and try again.",
      failed: "Something went wrong. Please try again.",
      notParent: "This page is for parents. Please use the page for your role.",
    },
    logout: "Log out",
    mapLabel: "Map of your children's bus routes",
    tripsHeading: "Buses",
    noTrips: "No bus is on the road for your children right now. This page updates by itself when one starts.",
    loading: "Loading your trips…",
    riding: "{names}",
    state: {
      not_started: "Not started yet",
      on_the_way: "On the way",
      arriving: "Arriving soon",
      arrived: "Arrived at your stop",
      ended: "Trip ended",
    },
    eta: {
      none: "Arrival time: choose your stop below",
      unknown: "Arrival time: waiting for the bus position",
      server: "Arrives in about {t}",
      estimate: "Arrives in about {t} (estimate)",
      soon: "Arriving any moment",
      done: "The bus has reached your stop",
      ended: "",
    },
    age: {
      never: "No position yet",
      fresh: "Position {t} old",
      stale: "Last position {t} old: the bus may have lost its signal",
    },
    minutes: "{n} min",
    seconds: "{n} s",
    hours: "{h} h {m} min",
    stopLabel: "The stop where your child gets on or off",
    stopPick: "Choose your stop",
    yourStop: "Your stop: {name}",
    stop: "Stop {seq}: {name}",
    bus: "Bus on {route}",
    notices: "Notices",
    noNotices: "Nothing yet.",
    approaching: "{route}: the bus is about {t} from {stop}.",
    arrivedAt: "{route}: the bus has arrived at {stop}.",
    ended: "{route}: the trip has ended.",
    started: "{route}: the bus has started.",
    notifyAsk: "Turn on alerts on this phone",
    notifyOn: "Alerts are on.",
    notifyDenied: "Alerts are blocked in your browser settings.",
    notifyTitle: "School bus",
    sessionEnded: "You were logged out. Please log in again.",
    yourChild: "Your child",
    attendance: {
      today: "{name} was marked {status} today.",
      on: "{name} was marked {status} on {day}.",
      note: "Note: {note}",
      absent: "absent",
      late: "late",
      present: "present",
      leave: "on leave",
    },
    homework: {
      assigned: "Homework for {names} in {subject}: {title} (due {due}).",
    },
    reportCard: {
      ready: "{name}'s report card is ready.",
      open: "Open report card",
      failed: "The report card could not be opened: {message}",
    },
  },
};

const lang = (navigator.language || "en").slice(0, 2);
export const S = STRINGS[lang] || STRINGS.en;

// S.x.y with {name} filled from vars.
export function t(path, vars = {}) {
  const s = path.split(".").reduce((o, k) => (o == null ? o : o[k]), S);
  if (typeof s !== "string") return path;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ""));
}
