// Registers the brand's service worker and offers installation; the page works without it.
const installButton = document.getElementById("install-app");
const iosHint = document.getElementById("ios-install-hint");
const offlineBanner = document.getElementById("offline-banner");

if ("serviceWorker" in navigator && document.querySelector('link[rel="manifest"]')) {
  navigator.serviceWorker.register("/sw.js", { scope: "/", type: "classic" }).catch(() => {});
}

let deferredPrompt = null;
window.addEventListener("beforeinstallprompt", (event) => {
  event.preventDefault();
  deferredPrompt = event;
  if (installButton) installButton.hidden = false;
});
installButton?.addEventListener("click", async () => {
  if (!deferredPrompt) return;
  deferredPrompt.prompt();
  await deferredPrompt.userChoice;
  deferredPrompt = null;
  installButton.hidden = true;
});
window.addEventListener("appinstalled", () => { if (installButton) installButton.hidden = true; });

// iOS Safari has no install prompt: show a one-line hint, unless already installed.
const isIos = /iphone|ipad|ipod/i.test(navigator.userAgent);
const standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone;
if (iosHint && isIos && !standalone) iosHint.hidden = false;

// A page the service worker served from its cache (data-source="cache") says so, with its time.
const fromCache = document.documentElement.dataset.source === "cache";
const showOffline = () => { if (offlineBanner) offlineBanner.hidden = navigator.onLine && !fromCache; };
window.addEventListener("online", showOffline);
window.addEventListener("offline", showOffline);
showOffline();
