// One service worker for every brand. The server prefixes this file with
// self.RETORNO = {brand, version, precache, offline}, so each brand host gets its own caches.
const { brand, version, precache, offline } = self.RETORNO;
const PREFIX = `retorno-${brand}-`;
const SHELL = `${PREFIX}shell-${version}`;
const PAGES = `${PREFIX}pages-${version}`;
// A signed-in shopper's home, statement and vouchers, kept for reading offline; emptied at sign-out.
const PRIVATE = `${PREFIX}private-${version}`;
// Posting to these ends the session on this device: nothing private may outlive it.
const SIGN_OUTS = ["/logout", "/account/sign-out-everywhere", "/account/delete"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL)
      .then((cache) => cache.addAll(precache.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith(PREFIX) && ![SHELL, PAGES, PRIVATE].includes(n))
             .map((n) => caches.delete(n))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

// HTML: network first, so a shopper sees fresh numbers; the saved copy or the offline page
// when the network is gone. The server says what may be kept: `Retorno-Offline: private` for a
// signed-in page (kept apart, purged at sign-out), `signed-out` when no one is signed in any more;
// other pages are kept unless they are `no-store`.
async function networkFirst(request) {
  try {
    const response = await fetch(request);
    const offline = response.headers.get("retorno-offline");
    if (offline === "signed-out") await caches.delete(PRIVATE);
    if (response.ok && offline === "private") {
      await (await caches.open(PRIVATE)).put(request, response.clone());
    } else if (response.ok && response.headers.get("cache-control")?.includes("no-store") !== true) {
      await (await caches.open(PAGES)).put(request, response.clone());
    }
    return response;
  } catch (error) {
    const saved = (await (await caches.open(PRIVATE)).match(request, { ignoreVary: true })) ||
      (await (await caches.open(PAGES)).match(request, { ignoreVary: true }));
    if (saved) return fromCache(saved);
    const fallback = await caches.match(offline);
    if (fallback) return fallback;
    throw error;
  }
}

// A page read from the cache says so: <html data-source="cache"> shows its "saved on" banner.
async function fromCache(response) {
  const html = (await response.text()).replace('data-source="network"', 'data-source="cache"');
  return new Response(html, { status: response.status, statusText: response.statusText, headers: response.headers });
}

// Versioned assets (?v=...) never change under the same URL: cache first.
async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) (await caches.open(SHELL)).put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && SIGN_OUTS.includes(url.pathname)) {
    event.waitUntil(caches.delete(PRIVATE));
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/sw.js") return;
  if (request.mode === "navigate" || request.headers.get("accept")?.includes("text/html")) {
    event.respondWith(networkFirst(request));
  } else if (url.searchParams.has("v")) {
    event.respondWith(cacheFirst(request));
  }
});

// Push: the server sends {title, body, url, tag, icon, badge, lang} (backend/retorno/push).
// One tag per kind, so a newer notice replaces an older one of the same kind.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data?.text() }; }
  const title = data.title || self.RETORNO.name || "";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    icon: data.icon,
    badge: data.badge,
    tag: data.tag,
    lang: data.lang,
    renotify: Boolean(data.tag),
    data: { url: data.url || "/" },
  }));
});

// A tap focuses an open window of the app (on that URL if one is there) or opens the URL.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const focus = (w) => w.focus().catch(() => w); // focusing may need the click's user activation
    const same = windows.find((w) => new URL(w.url).pathname === target.pathname);
    if (same) return focus(same);
    if (windows[0] && "navigate" in windows[0]) {
      const moved = await windows[0].navigate(target.href);
      return focus(moved || windows[0]);
    }
    return self.clients.openWindow(target.href);
  })());
});

// The browser replaced the subscription: subscribe again and tell the server (no session needed:
// the old endpoint proves it is this device).
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const { key } = await (await fetch("/push/key")).json();
    const raw = Uint8Array.from(atob(key.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((key.length + 3) % 4)), (c) => c.charCodeAt(0));
    const fresh = event.newSubscription ||
      await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: raw });
    if (!old) return;
    await fetch("/push/renew", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ old_endpoint: old.endpoint, subscription: fresh.toJSON() }),
    });
  })());
});
