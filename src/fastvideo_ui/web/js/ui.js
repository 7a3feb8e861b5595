// Small DOM helpers. Text always goes in through textContent, never as HTML,
// so a prompt like <img onerror=...> is shown, not run.

export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// One polite live region for the whole page: status changes, created jobs.
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick makes screen readers repeat equal messages.
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

export function shortPrompt(prompt, length = 60) {
  return prompt.length > length ? `${prompt.slice(0, length - 1)}…` : prompt;
}

// To the clipboard; where the page is not a secure context (http on a LAN
// address) navigator.clipboard is missing, and a selected textarea still copies.
export async function copyText(text) {
  if (navigator.clipboard) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: try the old way
    }
  }
  const area = h("textarea", { readonly: true, class: "visually-hidden" });
  area.value = text;
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied;
}

// Cards and dialogs ask the app to act on a job through this bubbling event.
export function requestAction(from, action, job) {
  from.dispatchEvent(new CustomEvent("job-action", { bubbles: true, composed: true, detail: { action, job } }));
}
