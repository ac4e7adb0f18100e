// "Receber avisos": never asked on page load, only when the shopper presses the button; shown only
// where the browser can receive push (on iOS, only inside the installed app). The server keeps the
// subscription for this shopper; the service worker shows what arrives.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const offers = document.querySelectorAll("[data-push-offer]");
const statusOf = (el) => el.closest("section, div")?.querySelector("[data-push-status]") ||
  document.querySelector("[data-push-status]");
// The words come from the page (data-* of the status line, in the page's language).
const words = (el, key) => el?.dataset[key] || "";
const SUBSCRIBE_WAIT_MS = 20000; // a push service that never answers must not leave the button silent

const isIos = /iphone|ipad|ipod/i.test(navigator.userAgent);
const standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window &&
  (!isIos || standalone);

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /edg\//i.test(ua) ? "Edge" : /firefox/i.test(ua) ? "Firefox" : /chrome|crios/i.test(ua) ? "Chrome" : /safari/i.test(ua) ? "Safari" : "Browser";
  const os = /android/i.test(ua) ? "Android" : isIos ? "iOS" : /windows/i.test(ua) ? "Windows" : /mac os/i.test(ua) ? "macOS" : /linux/i.test(ua) ? "Linux" : "";
  return os ? `${browser} · ${os}` : browser;
}

const decode = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));

const timeout = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));

async function subscribe(button) {
  const status = statusOf(button);
  const say = (key, fill = {}) => {
    if (status) status.textContent = words(status, key).replace(/\{(\w+)\}/g, (_, name) => fill[name] ?? "");
  };
  button.disabled = true;
  try {
    if (await Notification.requestPermission() !== "granted") { say("denied"); return; }
    let subscription;
    try {
      const registration = await Promise.race([navigator.serviceWorker.ready, timeout(SUBSCRIBE_WAIT_MS)]);
      const { key } = await (await fetch("/push/key", { credentials: "same-origin" })).json();
      subscription = await Promise.race([
        registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: decode(key) }),
        timeout(SUBSCRIBE_WAIT_MS),
      ]);
    } catch {
      say("unreachable"); // the browser's push service (FCM, Mozilla's, Apple's) did not answer
      return;
    }
    const response = await fetch("/push/subscriptions", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrftoken": csrf },
      body: JSON.stringify({ ...subscription.toJSON(), device: deviceName() }),
    });
    if (!response.ok) { say("failed", { status: response.status }); return; }
    say("done");
    for (const el of document.querySelectorAll("[data-push-subscribe]")) el.hidden = true;
  } catch {
    say("failed", { status: "" });
  } finally {
    button.disabled = false;
  }
}

if (supported) {
  navigator.serviceWorker.ready.then(async (registration) => {
    const existing = await registration.pushManager.getSubscription();
    if (existing && Notification.permission === "granted") return; // already on for this device
    for (const offer of offers) offer.hidden = false;
  }).catch(() => {});
  for (const button of document.querySelectorAll("[data-push-subscribe]")) {
    button.addEventListener("click", () => subscribe(button));
  }
}
