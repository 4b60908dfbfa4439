// strings.js: every text the admin console shows, in one object per language. A translation
// (Hindi: add `hi`) copies `en` and changes the values; {name} marks a value filled in.
// Operation and argument names come from the server's sys.schema and are shown as they are.
// The texts the pages share (connection, login box) are in /common/strings.js; the admin's
// login heading and suspended-account text differ.
import { translator } from "/common/text.js";

export const STRINGS = {
  en: {
    title: "Classment admin",
    login: {
      heading: "Admin log in",
      suspended: "Your school's account is not active.",
      notAdmin: "This console is for school admins. Parents and drivers have their own pages: /parent and /driver.",
    },
    whoami: "{name} (admin)",
    nav: "Console",
    schemaFailed: "Could not load the list of operations. It will be tried again when the connection is back.",
    live: {
      tab: "Live buses",
      heading: "Buses on the road",
      mapLabel: "Map of the school's running buses",
      none: "No bus of the school is on the road right now. This list updates by itself.",
      loading: "Loading the running trips…",
      trip: "Trip {trip}: {route}",
      noPos: "no position yet",
      pos: "position {t} s old",
      failed: "Could not load the running trips: {msg}",
    },
    editor: {
      tab: "Route editor",
      heading: "Draw a new route",
      hint: "Click the map where each stop is, in riding order, and name it. Reorder or remove stops in the list, then create the route.",
      mapLabel: "Map for placing the stops of a new route",
      stopName: "Name of the new stop",
      stopDefault: "Stop {n}",
      where: "At {lat}, {lon}",
      addStop: "Add stop",
      cancel: "Cancel",
      stopsHeading: "Stops in riding order",
      noStops: "No stop yet: click the map.",
      up: "Move up",
      down: "Move down",
      remove: "Remove",
      stopLabel: "{name} ({lat}, {lon})",
      routeName: "Route name",
      create: "Create route",
      needName: "Give the route a name.",
      needStops: "Add at least one stop by clicking the map.",
      created: "Route {id} created with {n} stops.",
      fromEditor: "{n} stops from the route editor.",
      openEditor: "Open the route editor",
    },
    op: {
      optional: "(optional)",
      roles: "Allowed for: {roles}",
      run: "Send",
      notGiven: "— not given —",
      clear: "Clear {field} (send no value)",
      json: "JSON: {hint}",
      jsonArray: "an array, e.g. [ … ]",
      jsonMap: "an object, e.g. { … }",
      done: "Done.",
      empty: "No records.",
      rows: "{n} records.",
      sending: "Sending…",
    },
    err: {
      required: "{field} is required.",
      badJson: "{field} is not valid JSON: {msg}",
      notArray: "{field} must be a JSON array.",
      notMap: "{field} must be a JSON object.",
      notNumber: "{field} must be a number.",
      bad_request: "Please check {field}: {msg}",
      bad_request_nofield: "The request was refused: {msg}",
      not_found: "Not found: {field} does not exist in your school.",
      conflict: "That conflicts with the current data ({field}): {msg}",
      forbidden: "You are not allowed to do that.",
      unauthenticated: "Your session has ended. Please log in again.",
      rate_limited: "Too many requests. Please wait {s} seconds.",
      offline: "No connection to the server. Try again when it is back.",
      timeout: "The server did not answer. Try again.",
      unavailable: "The server cannot do this right now (a service is down). Try again later.",
      other: "Something went wrong ({code}): {msg}",
    },
  },
};

export const { S, t } = translator(STRINGS);
