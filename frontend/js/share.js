// Copy a voucher code or an invitation link, and share the link (Web Share API where the browser
// has it; WhatsApp and copy-link otherwise). The page works without this: codes and links are text.
const status = document.querySelector(".copy-status");
const say = (text) => { if (status) status.textContent = text; };
const COPIED = status?.dataset.copied || ""; // the page's words, in its language
const NOT_COPIED = status?.dataset.notCopied || "";

for (const button of document.querySelectorAll("[data-copy]")) {
  if (!navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      say(COPIED);
    } catch {
      say(NOT_COPIED);
    }
  });
}

const share = document.getElementById("share-button");
if (share && navigator.share) {
  share.hidden = false;
  share.addEventListener("click", () => {
    const { shareUrl: url, shareText: text, shareTitle: title } = share.dataset;
    navigator.share({ title, text, url }).catch(() => {});
  });
}
