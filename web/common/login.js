// login.js: the phone-then-code login form the faces share (ids #phone-form, #phone,
// #send-code, #code-form, #code, #verify, #login-msg, #logout). Each page keeps its own words
// (t, its strings' "login.*" keys) and says what to do once someone has logged in.

const $ = (id) => document.getElementById(id);

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
