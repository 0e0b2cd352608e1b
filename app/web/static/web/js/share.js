// "Send" on a post: a modal dialog to pick people (recent conversations first, then anyone by
// search) and send the post to each of their DMs, or into a group, with an optional message
// (POST /api/posts/{id}/share). Loaded only when someone opens it.
import { $, api, el, flash, query, uuid4, viewer } from "./core.js";
import { avatar } from "./render.js";

const SEARCH_DELAY_MS = 200;

// A recent conversation as a pick: a DM names its other member, a group is sent into as a room.
function roomTarget(room) {
  const others = room.members.filter((m) => m.username !== viewer);
  if (room.kind === "dm" && others.length) {
    const [other] = others;
    return { key: `u:${other.username}`, user: other.username, label: other.username, detail: other.name, person: other };
  }
  const label = room.title || others.map((m) => m.username).join(", ") || "Group";
  return { key: `r:${room.id}`, room: room.id, label, detail: "Group", person: { username: label } };
}

function userTarget(hit) {
  const person = { username: hit.text, avatar_url: hit.image_url };
  return { key: `u:${hit.text}`, user: hit.text, label: hit.text, detail: hit.detail, person };
}

function names(targets) {
  const labels = targets.map((t) => t.label);
  return labels.length > 1 ? `${labels.slice(0, -1).join(", ")} and ${labels.at(-1)}` : labels[0];
}

export async function openShare(post) {
  const open = $("dialog.share-dialog");
  if (open) return open; // a second click while it is open
  const picked = new Map();
  // One id per dialog: sending again after a lost answer duplicates nothing.
  const clientId = uuid4();
  let recent = [];
  const input = el("input", { id: "share-q", type: "search", placeholder: "Search…", autocomplete: "off" });
  const chips = el("ul", { class: "share-chips", "aria-label": "To" });
  const options = el("ul", { class: "share-options", "aria-label": "Recipients" });
  const note = el("input", { id: "share-text", placeholder: "Write a message…", maxlength: "2000", autocomplete: "off" });
  const error = el("p", { class: "form-error", role: "alert", hidden: true });
  const send = el("button", { type: "submit", class: "button", disabled: true }, "Send");
  const close = el("button", { type: "button", class: "icon-button share-close", "aria-label": "Close" }, "×");
  const form = el(
    "form",
    { class: "share-form" },
    el("header", { class: "share-head" }, el("h2", { id: "share-title" }, "Share"), close),
    el("label", { for: "share-q", class: "share-to" }, "To:"),
    chips,
    input,
    options,
    el("label", { for: "share-text", class: "visually-hidden" }, "Message"),
    note,
    error,
    send,
  );
  const dialog = el("dialog", { class: "share-dialog card", "aria-labelledby": "share-title" }, form);

  const fail = (failure) => {
    error.textContent = failure.message;
    error.hidden = false;
  };
  const option = (target) =>
    el(
      "li",
      {},
      el(
        "label",
        { class: "share-option" },
        avatar(target.person),
        el("span", {}, el("span", { class: "share-name" }, target.label), target.detail ? el("span", { class: "muted" }, target.detail) : null),
        el("input", {
          type: "checkbox",
          "data-key": target.key,
          checked: picked.has(target.key),
          onchange: (event) => toggle(target, event.target.checked),
        }),
      ),
    );
  const showOptions = (targets, empty) => {
    options.replaceChildren(...targets.map(option));
    if (!targets.length) options.append(el("li", { class: "muted share-empty" }, empty));
  };
  const showChips = () => {
    chips.replaceChildren(
      ...[...picked.values()].map((target) =>
        el(
          "li",
          {},
          el("button", { type: "button", class: "chip", "aria-label": `Remove ${target.label}`, onclick: () => toggle(target, false) }, target.label, " ×"),
        ),
      ),
    );
    send.disabled = !picked.size;
  };
  function toggle(target, on) {
    if (on) picked.set(target.key, target);
    else picked.delete(target.key);
    showChips();
    const box = options.querySelector(`[data-key="${CSS.escape(target.key)}"]`);
    if (box) box.checked = on;
  }

  let timer = null;
  let asked = "";
  const search = async () => {
    const q = input.value.trim().replace(/^@/, "");
    asked = q;
    if (!q) return showOptions(recent, "No conversations yet. Search for someone.");
    const data = await api(`/search/suggest${query({ q })}`);
    if (asked !== q) return; // a later keystroke's answer is the one to show
    // Recent conversations that match come first, then everyone else the search found.
    const mine = recent.filter((t) => t.label.toLowerCase().includes(q.toLowerCase()));
    const known = new Set(mine.map((t) => t.key));
    const people = data.items.filter((hit) => hit.kind === "user" && hit.text !== viewer).map(userTarget);
    showOptions([...mine, ...people.filter((t) => !known.has(t.key))], "No account found.");
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search().catch(fail), SEARCH_DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault(); // Enter in the search never sends
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const targets = [...picked.values()];
    send.disabled = true;
    error.hidden = true;
    try {
      await api(`/posts/${post.id}/share`, {
        method: "POST",
        json: {
          users: targets.filter((t) => t.user).map((t) => t.user),
          rooms: targets.filter((t) => t.room).map((t) => t.room),
          text: note.value.trim(),
          client_id: clientId,
        },
      });
      dialog.close();
      flash(`Sent to ${names(targets)}.`);
    } catch (failure) {
      fail(failure);
      send.disabled = false;
    }
  });
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  document.body.append(dialog);
  dialog.showModal();
  input.focus();
  try {
    recent = (await api("/chat/rooms?limit=20")).items.map(roomTarget);
    if (!input.value.trim()) showOptions(recent, "No conversations yet. Search for someone.");
  } catch (failure) {
    fail(failure);
  }
  return dialog;
}
