// The counter's QR scanner: where the browser has BarcodeDetector (Android Chrome, Safari 17+ with
// the flag, ChromeOS), a "Scan" button opens the rear camera, reads the voucher's QR code and fills
// the code field. Without it the button stays hidden and the clerk types the code.
const button = document.getElementById("scan-button");
const panel = document.getElementById("scanner");
const video = document.getElementById("scanner-video");
const field = document.getElementById("voucher-code");
const status = document.getElementById("scan-status");
const en = document.documentElement.lang === "en";
const TEXT = {
  read: en ? "Code read: " : "Código lido: ",
  denied: en ? "The camera is not available; type the code." : "A câmera não está disponível; digite o código.",
};

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
        status.textContent = TEXT.read + field.value;
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
