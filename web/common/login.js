// login.js: the phone-then-code login form the faces share (ids #phone-form, #phone,
// #send-code, #code-form, #code, #verify, #login-msg, #logout), and the session of a page for
// one role. Each page keeps its own words (t, its strings' "login.*" keys over the shared
// ones) and says what to do once someone has logged in.

const $ = (id) => document.getElementById(id);

// The login box's content, put into the page's empty <section id="login"> before its strings
// are filled in; `hint` adds a hint under the phone number ("login.phoneHint").
export function buildLogin({ hint = false } = {}) {
  $("login").innerHTML = `
    <h2 id="login-h" data-s="login.heading"></h2>
    <form id="phone-form" novalidate>
      <label for="phone" data-s="login.phoneLabel"></label>
      <input id="phone" type="tel" inputmode="tel" autocomplete="tel" required${hint ? ' aria-describedby="phone-hint"' : ""}>
      ${hint ? '<p id="phone-hint" class="hint" data-s="login.phoneHint"></p>' : ""}
      <button id="send-code" type="submit" data-s="login.sendCode"></button>
    </form>
    <form id="code-form" novalidate hidden>
      <label for="code" data-s="login.codeLabel"></label>
      <input id="code" type="text" inputmode="numeric" autocomplete="one-time-code"
             pattern="[0-9]{6}" maxlength="6" required>
      <button id="verify" type="submit" data-s="login.verify"></button>
    </form>
    <p id="login-msg" class="msg" role="alert"></p>
  `;
}

// The page's two states: the login box, or the page itself (#app) with the logout button.
export function showLoginBox(msg) {
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-msg").textContent = msg || "";
}

export function showAppBox() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
}

// The words for a failed login request.
export function loginError(t, e) {
  switch (e.code) {
    case "bad_request": return e.field === "code" ? t("login.badCode") : t("login.badPhone");
    case "unauthenticated": return t("login.wrongCode");
    case "forbidden": return t("login.suspended");
    case "rate_limited": return t("login.rateLimited", { s: e.retry_after_s || 30 });
    case "offline": case "timeout": case "unavailable": return t("login.offline");
    default: return t("login.failed");
  }
}

// Wires the form to cm (a Classment). onUser(user) runs after a successful verification;
// onLogout() runs before the session is ended at the user's request.
export function setupLogin(cm, t, { onUser, onLogout }) {
  let resendTimer = 0;
  // The server gives a number a new code at most every resend_after_s: count it down.
  const holdResend = (seconds) => {
    const btn = $("send-code");
    clearInterval(resendTimer);
    let left = seconds;
    const tick = () => {
      if (left <= 0) {
        clearInterval(resendTimer);
        btn.disabled = false;
        btn.textContent = t("login.sendAgain");
        return;
      }
      btn.disabled = true;
      btn.textContent = t("login.wait", { s: left });
      left--;
    };
    tick();
    resendTimer = setInterval(tick, 1000);
  };

  $("phone-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const phone = $("phone").value.trim();
    if (!/^[+0-9][0-9 ()-]{6,}$/.test(phone)) {
      $("login-msg").textContent = t("login.badPhone");
      $("phone").focus();
      return;
    }
    $("send-code").disabled = true;
    try {
      const r = await cm.requestCode(phone);
      $("login-msg").textContent = t("login.sent");
      $("code-form").hidden = false;
      $("code").focus();
      holdResend(r.resend_after_s || 30);
    } catch (e) {
      $("send-code").disabled = false;
      $("login-msg").textContent = loginError(t, e);
      if (e.code === "rate_limited") holdResend(e.retry_after_s || 30);
    }
  });

  $("code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = $("code").value.trim();
    if (!/^[0-9]{6}$/.test(code)) {
      $("login-msg").textContent = t("login.badCode");
      $("code").focus();
      return;
    }
    $("verify").disabled = true;
    try {
      const user = await cm.verify($("phone").value.trim(), code);
      onUser(user);
      $("code").value = "";
      $("code-form").hidden = true;
      clearInterval(resendTimer);
      $("send-code").disabled = false;
      $("send-code").textContent = t("login.sendCode");
    } catch (e) {
      $("login-msg").textContent = loginError(t, e);
      $("code").select();
    } finally {
      $("verify").disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    onLogout();
    await cm.logout();
  });
}

// The session of a page for the users of one role: wires the login form (setupLogin) and
// returns the handler of cm's "session" event. A user of another role is logged out again,
// told `wrongRole` (a strings key); a user of `role` gets showApp() then onIn(user); the end
// of the session gets onOut() then the login box, which says why unless the user asked for it.
// onUser(user) runs after a login of a user of `role`.
export function setupSession(cm, t, {
  role, wrongRole, onUser, onIn = () => {}, onOut = () => {},
  showApp = showAppBox, showLogin = showLoginBox,
}) {
  let loggedOutByUser = false;
  setupLogin(cm, t, {
    onUser: (user) => { if (user.role === role) onUser(user); },
    onLogout: () => { loggedOutByUser = true; },
  });
  return (user) => {
    if (user && user.role !== role) {
      loggedOutByUser = true;
      cm.logout().then(() => { $("login-msg").textContent = t(wrongRole); });
      return;
    }
    if (user) {
      loggedOutByUser = false;
      showApp();
      onIn(user);
    } else {
      onOut();
      showLogin(loggedOutByUser ? "" : t("sessionEnded"));
      loggedOutByUser = false;
      $("phone").focus();
    }
  };
}
