// The admin's sidebar is a <details> menu so a phone can fold it without JavaScript; on a wider
// screen it stays open (CSS does it where ::details-content is supported; this covers the rest).
const menu = document.getElementById("admin-menu");
const wide = window.matchMedia("(min-width: 60em)");

function fit() {
  if (menu && wide.matches) menu.open = true;
}

fit();
wide.addEventListener("change", fit);
