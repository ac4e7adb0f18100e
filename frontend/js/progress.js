// A large import's page follows the worker: every two seconds it reads the page again and puts
// the new progress bar and counts in place, until the import is done (then the whole page, with
// its rejected rows). Without script the page has a Refresh button.
const job = document.getElementById("import-job");

async function follow() {
  if (!job || !["queued", "running"].includes(job.dataset.state)) return;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  try {
    const response = await fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("import-job");
    if (!fresh) return;
    if (["queued", "running"].includes(fresh.dataset.state)) {
      for (const id of ["import-progress", "import-counts"]) {
        const now = document.getElementById(id);
        const next = fresh.querySelector(`#${id}`);
        if (now && next) now.replaceWith(next);
      }
      const label = document.querySelector("label[for=import-progress]");
      const nextLabel = fresh.querySelector("label[for=import-progress]");
      if (label && nextLabel) label.textContent = nextLabel.textContent;
    } else {
      job.replaceWith(fresh);
      return;
    }
  } catch {
    // offline for a moment: try again
  }
  follow();
}

follow();
