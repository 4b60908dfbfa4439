// strings.js: the texts the parent, teacher and admin pages share (the connection state, the
// login box, logging out), in one object per language like a page's own strings.js.
// translator() (text.js) lays a page's strings over these: a page changes a shared text by
// giving the same key (the admin's login heading) and adds its own ("login.notParent").
export const STRINGS = {
  en: {
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
    },
    logout: "Log out",
    sessionEnded: "You were logged out. Please log in again.",
  },
};
