// One service worker for every brand. The server prefixes this file with
// self.RETORNO = {brand, version, precache, offline}, so each brand host gets its own caches.
const { brand, version, precache, offline } = self.RETORNO;
const PREFIX = `retorno-${brand}-`;
const SHELL = `${PREFIX}shell-${version}`;
const PAGES = `${PREFIX}pages-${version}`;

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
        names.filter((n) => n.startsWith(PREFIX) && n !== SHELL && n !== PAGES)
             .map((n) => caches.delete(n))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

// HTML: network first, so a shopper sees fresh numbers; the cached copy or the offline page
// when the network is gone.
async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok && response.headers.get("cache-control")?.includes("no-store") !== true) {
      const cache = await caches.open(PAGES);
      cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const cached = (await caches.match(request, { ignoreVary: true })) ||
      (await caches.match(offline));
    if (cached) return cached;
    throw error;
  }
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
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/sw.js") return;
  if (request.mode === "navigate" || request.headers.get("accept")?.includes("text/html")) {
    event.respondWith(networkFirst(request));
  } else if (url.searchParams.has("v")) {
    event.respondWith(cacheFirst(request));
  }
});
