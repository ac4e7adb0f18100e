// Passkeys: create one on /account/security, sign in with one on /login (a button, and browser
// autofill where supported). The server keeps the challenges; this only relays the ceremony.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
// "" on a brand host (the shopper's passkeys), "/admin" on the platform host (staff passkeys).
const base = document.querySelector("[data-passkey-base]")?.dataset.passkeyBase || "";

const b64 = {
  decode: (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)),
  encode: (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
};

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrftoken": csrf },
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || response.statusText);
  return response.json();
}

function showError(error) {
  const box = document.getElementById("passkey-error");
  if (box && error.name !== "AbortError" && error.name !== "NotAllowedError") {
    box.textContent = error.message;
    box.hidden = false;
  }
}

function credentialJSON(credential, extra = {}) {
  const r = credential.response;
  const response = { clientDataJSON: b64.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64.encode(r.authenticatorData);
    response.signature = b64.encode(r.signature);
    if (r.userHandle) response.userHandle = b64.encode(r.userHandle);
  }
  return { id: credential.id, rawId: b64.encode(credential.rawId), type: credential.type,
           clientExtensionResults: credential.getClientExtensionResults(), response, ...extra };
}

async function createPasskey() {
  const options = await post(`${base}/passkeys/register/options`);
  const credential = await navigator.credentials.create({ publicKey: {
    ...options,
    challenge: b64.decode(options.challenge),
    user: { ...options.user, id: b64.decode(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  } });
  await post(`${base}/passkeys/register`, credentialJSON(credential));
  location.reload();
}

// Browser autofill keeps one request pending until the shopper picks a passkey; a browser allows
// one request at a time, so the button first cancels the autofill request.
let autofill = null;

async function signIn(mediation) {
  let signal;
  if (mediation === "conditional") {
    if (!autofill || autofill.signal.aborted) return;
    signal = autofill.signal;
  } else if (autofill) {
    autofill.abort();
  }
  const options = await post(`${base}/passkeys/authenticate/options`);
  if (signal?.aborted) return;
  const credential = await navigator.credentials.get({
    mediation, signal,
    publicKey: { ...options, challenge: b64.decode(options.challenge),
                 allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })) },
  });
  const next = document.querySelector("[data-next]")?.dataset.next || "/";
  const result = await post(`${base}/passkeys/authenticate`, credentialJSON(credential, { next }));
  location.assign(sameOrigin(result.redirect));
}

// Only a place on this very host is followed (the server checks too): "/\\evil.example" and
// "//evil.example" are other hosts to a browser.
function sameOrigin(target) {
  const url = new URL(target || "/", location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}

if (window.PublicKeyCredential) {
  const create = document.getElementById("passkey-create");
  if (create) {
    create.hidden = false;
    create.addEventListener("click", () => createPasskey().catch(showError));
  }
  if (document.querySelector("[data-passkey-autofill]") && PublicKeyCredential.isConditionalMediationAvailable) {
    autofill = new AbortController();  // before the check resolves, so an early click cancels it too
    PublicKeyCredential.isConditionalMediationAvailable().then((yes) => {
      if (yes) signIn("conditional").catch((error) => { if (!autofill?.signal.aborted) showError(error); });
    });
  }
  const button = document.getElementById("passkey-sign-in");
  if (button) {
    button.hidden = false;
    button.addEventListener("click", () => signIn("optional").catch(showError));
  }
}
