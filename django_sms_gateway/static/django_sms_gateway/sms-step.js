/* The SMS step, progressively enhanced; the page works without this script.
 *
 * 1. The resend button's cooldown: disabled while the page's countdown runs.
 *    The hint names the seconds left in the plural form the page gave for
 *    each count (data-sms-sentences, data-sms-forms).
 * 2. WebOTP: where the browser offers it (navigator.credentials with
 *    OTPCredential, e.g. Chrome on Android), wait for the SMS whose last line
 *    is "@this-host #code", fill in the code and submit the form.
 */
(function () {
  "use strict";

  var button = document.getElementById("sms-send");
  var hint = document.getElementById("sms-cooldown");
  var seconds = button ? parseInt(button.getAttribute("data-sms-cooldown") || "0", 10) : 0;

  function sentences() {
    try { return JSON.parse(hint.getAttribute("data-sms-sentences") || "[]"); } catch (e) { return []; }
  }

  function say(count, forms, texts) {
    var text = texts[parseInt(forms.charAt(count), 10)];
    var parts = typeof text === "string" ? text.split(/%\(count\)[ds]/) : [];
    if (parts.length !== 2) { return; }
    var number = document.createElement("span");
    number.setAttribute("data-sms-seconds", "");
    number.textContent = String(count);
    hint.textContent = parts[0];
    hint.appendChild(number);
    hint.appendChild(document.createTextNode(parts[1]));
  }

  if (button && seconds > 0) {
    var forms = hint ? hint.getAttribute("data-sms-forms") || "" : "";
    var texts = hint ? sentences() : [];
    button.disabled = true;
    var timer = window.setInterval(function () {
      seconds -= 1;
      if (hint && seconds > 0) { say(seconds, forms, texts); }
      if (seconds <= 0) {
        window.clearInterval(timer);
        button.disabled = false;
        if (hint) { hint.hidden = true; }
      }
    }, 1000);
  }

  var form = document.getElementById("sms-verify-form");
  var input = form ? form.querySelector("input[autocomplete='one-time-code']") : null;
  if (!input || !("OTPCredential" in window) || !navigator.credentials) { return; }
  var abort = "AbortController" in window ? new AbortController() : null;
  form.addEventListener("submit", function () { if (abort) { abort.abort(); } });
  var request = { otp: { transport: ["sms"] } };
  if (abort) { request.signal = abort.signal; }
  navigator.credentials.get(request).then(function (otp) {
    if (!otp || !otp.code) { return; }
    input.value = otp.code;
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }).catch(function () { /* dismissed, timed out or aborted: the person types the code */ });
})();
