// strings.js: every text the parent page shows, in one object per language. A translation
// (Hindi: add `hi`) copies `en` and changes the values; {name} marks a value filled in. The
// texts the pages share (connection, login box) are in /common/strings.js.
import { translator } from "/common/text.js";

export const STRINGS = {
  en: {
    title: "Your child's bus",
    login: {
      notParent: "This page is for parents. Please use the page for your role.",
    },
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

export const { S, t } = translator(STRINGS);
