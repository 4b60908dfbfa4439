// link.js: the driver page's one connection (web/common/classment.js) and the few calls the
// page makes through it.
import { Classment } from "/common/classment.js";

const cm = new Classment({ app: "driver" });

// "offline" as soon as the browser says so (the socket may take a while to notice), else
// "online" while usable, else the client's own state (connecting).
function connState() {
  if (navigator.onLine === false) return "offline";
  return cm.usable ? "online" : cm.state;
}

export const call = (op, args) => cm.call(op, args);
export const fire = (op, args) => cm.fire(op, args);
export const isOnline = () => cm.usable;
export const serverNow = () => cm.serverNow();
export const requestCode = (phone) => cm.requestCode(phone);
export const verifyCode = (phone, code) => cm.verify(phone, code);
export const logout = () => cm.logout();

// Connection changes: "connecting", "online" (usable) or "offline".
export function onState(fn) {
  const tell = () => fn(connState());
  cm.on("state", tell);
  cm.on("ready", tell);
  addEventListener("online", tell);
  addEventListener("offline", tell);
}

export function onError(fn) {
  cm.on("error", fn);
}

// The session ended on the server (logout elsewhere, revoked, expired): close code 4001.
export function onSessionEnd(fn) {
  cm.on("session", (user) => {
    if (!user) fn();
  });
}

// Connects; resolves with the user once the first connection is ready (null when the kept
// token is gone or there was none).
export function start() {
  return new Promise((resolve) => {
    const off = cm.on("ready", (user) => {
      off();
      resolve(user);
    });
    cm.start();
  });
}
