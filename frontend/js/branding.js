// The branding form's live preview: a phone with the app bar, a page, a card, a field, a button and
// the tab bar in the colours, typeface and corners being chosen,
// and the contrast of the text the app would put on each (WCAG AA asks 4.5:1). The server checks
// the same on save; this only shows it while choosing.
const field = (id) => document.getElementById(id);

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
function textOn(hex) {
  return contrast(hex, "#ffffff") >= contrast(hex, "#111111") ? "#ffffff" : "#111111";
}

function update() {
  const primary = field("f-primary").value;
  const accent = field("f-accent").value;
  const background = field("f-background").value;
  const phone = field("theme-preview");
  phone.dataset.font = field("f-font").value;
  phone.dataset.corners = field("f-corners").value;
  const bar = field("preview-bar");
  bar.style.setProperty("background", primary);
  bar.style.setProperty("color", textOn(primary));
  field("preview-name").textContent = field("f-short").value;
  field("preview-body").style.setProperty("background", background);
  field("preview-amount").style.setProperty("color", contrast(primary, background) >= 4.5 ? primary : "#111111");
  field("preview-tabs").querySelector(".phone-tab-on").style.setProperty("color", contrast(primary, "#ffffff") >= 4.5 ? primary : "#111111");
  const button = field("preview-button");
  button.style.setProperty("background", accent);
  button.style.setProperty("color", textOn(accent));
  const ratios = [contrast(primary, textOn(primary)), contrast(accent, textOn(accent)), contrast(background, "#111111")];
  const worst = Math.min(...ratios);
  const ok = worst >= 4.5;
  const lang = document.documentElement.lang;
  const shown = worst.toLocaleString(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const status = field("contrast-status"); // its words come from the page, in its language
  status.textContent = (ok ? status.dataset.ok : status.dataset.low).replace("{ratio}", shown);
}

if (field("theme-preview")) {
  for (const id of ["f-primary", "f-accent", "f-background", "f-short"]) field(id).addEventListener("input", update);
  for (const id of ["f-font", "f-corners"]) field(id).addEventListener("change", update);
  update();
}
