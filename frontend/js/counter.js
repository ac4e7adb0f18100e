// The counter's QR scanner: where the browser has BarcodeDetector (Android Chrome, Safari 17+ with
// the flag, ChromeOS), a "Scan" button opens the rear camera, reads the voucher's QR code and fills
// the code field. Without it the button stays hidden and the clerk types the code.
const button = document.getElementById("scan-button");
const panel = document.getElementById("scanner");
const video = document.getElementById("scanner-video");
const field = document.getElementById("voucher-code");
const status = document.getElementById("scan-status");
// Its words come from the page (data-* of the status line, in the page's language).
const TEXT = { read: status?.dataset.read || "{code}", denied: status?.dataset.denied || "" };

let stream = null;
let running = false;

function stop() {
  running = false;
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  video.srcObject = null;
  panel.hidden = true;
  button.hidden = false;
}

async function scan() {
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    status.textContent = TEXT.denied;
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  panel.hidden = false;
  button.hidden = true;
  running = true;
  while (running) {
    try {
      const [found] = await detector.detect(video);
      if (found && found.rawValue) {
        field.value = found.rawValue.trim().toUpperCase();
        status.textContent = TEXT.read.replace("{code}", field.value);
        stop();
        document.getElementById("voucher-total").focus();
        return;
      }
    } catch {
      // a frame that could not be read (the video is not ready yet): try the next one
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function supported() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return false;
  const formats = await BarcodeDetector.getSupportedFormats().catch(() => []);
  return formats.includes("qr_code");
}

if (button && field) {
  supported().then((ok) => {
    if (!ok) return;
    button.hidden = false;
    button.addEventListener("click", scan);
    document.getElementById("scan-stop").addEventListener("click", stop);
  });
}

// The result of an action: the form sent the page to #counter-result (or #counter-quote), so the
// browser has scrolled there; focusing it makes a screen reader read it out as well.
const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
if (target && !target.hidden && target.classList.contains("counter-result")) {
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "start" });
}

// CPF or phone (the phone's digit keyboard) or an e-mail (its @ keyboard) in the search: without
// JavaScript the two links reload the page with the other keyboard; here they switch it in place.
const search = document.getElementById("q");
const kinds = document.querySelectorAll("#q-kind a[data-inputmode]");
for (const link of kinds) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    const mode = link.dataset.inputmode;
    for (const other of kinds) {
      const on = other === link;
      other.classList.toggle("kind-on", on);
      if (on) other.setAttribute("aria-current", "true");
      else other.removeAttribute("aria-current");
    }
    for (const input of [search, document.getElementById("sale-customer")]) {
      if (!input) continue;
      input.inputMode = mode;
    }
    search.type = mode === "email" ? "email" : "text";
    const by = document.querySelector("#search-form input[name=by]");
    if (by) by.value = mode === "email" ? "email" : "digits";
    search.focus();
  });
}
