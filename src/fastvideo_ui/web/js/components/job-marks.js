// What a user puts on a job from a card or a gallery tile: its star (a
// favourite, kept by the server) and its pick for Compare (kept by the page,
// selection.js). The controls only ask: the star changes when the job's
// event comes back, so every card and tile of that job shows the same.

import { selection } from "../selection.js";
import { h, requestAction } from "../ui.js";

export function starButton(jobOf) {
  const button = h("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": "Star",
    title: "Star: keep it among the favourites (the Starred filter shows them)" }, "☆");
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    requestAction(button, "star", jobOf());
  });
  return button;
}

export function showStar(button, job) {
  const starred = Boolean(job.starred);
  if (button.getAttribute("aria-pressed") === String(starred)) return;
  button.setAttribute("aria-pressed", String(starred));
  button.textContent = starred ? "★" : "☆";
}

// A checkbox with a visible "Compare" beside it (`label`), or only a name for screen readers (a tile's corner).
export function pickBox(jobOf, { label = true } = {}) {
  const box = h("input", { type: "checkbox", class: "pick-box", "aria-label": label ? null : "Pick for Compare" });
  box.addEventListener("change", () => selection.set(jobOf(), box.checked));
  box.addEventListener("click", (event) => event.stopPropagation());
  if (!label) return { node: box, box };
  return { node: h("label", { class: "pick", title: "Pick 2 to 4 completed jobs to compare them" }, box, "Compare"), box };
}

export function showPick(box, id) {
  const picked = selection.has(id);
  if (box.checked !== picked) box.checked = picked;
}
