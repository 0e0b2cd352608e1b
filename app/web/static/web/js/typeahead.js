// The search typeahead: a combobox over /api/search/suggest (or another source), arrow keys
// and Enter; with `history`, the viewer's recent searches while the box is empty.
import { api, el, query, reportError, viewer } from "./core.js";
import { avatar } from "./render.js";

export function suggestionHref(item) {
  if (item.kind === "user") return `/u/${encodeURIComponent(item.text)}`;
  if (item.kind === "hashtag") return `/tags/${encodeURIComponent(item.text)}`;
  return `/places/${item.id}`;
}

export const suggest = async (text) => (await api(`/search/suggest${query({ q: text })}`)).items;

// A committed search or a click on a result goes into the viewer's history; never fails the caller.
export async function remember(entry) {
  if (viewer) await api("/search/history", { method: "POST", json: entry }).catch(() => {});
}

// A picked suggestion of the search boxes: remembered as a click, then opened.
export async function openPick(item) {
  await remember({ query: item.text, kind: "click", target_type: item.kind, target_id: item.id });
  location.assign(suggestionHref(item));
}

// A history entry reopens what it names: a query reruns it, a click goes back to its target.
function historyHref(entry) {
  if (entry.kind === "query") return `/search${query({ q: entry.query })}`;
  if (entry.target_type === "post") return `/p/${entry.target_id}`;
  return suggestionHref({ kind: entry.target_type, text: entry.query, id: entry.target_id });
}

const KIND_LABELS = { user: "Account", hashtag: "Hashtag", place: "Place", post: "Post" };

export function typeahead(input, list, { source = suggest, onPick = null, history = false } = {}) {
  let timer = null;
  let active = -1;
  let seq = 0; // each answer is shown only if nothing was asked or closed since
  const options = () => [...list.querySelectorAll('[role="option"]')];
  const show = (nodes) => {
    list.replaceChildren(...nodes);
    list.hidden = !nodes.length;
    input.setAttribute("aria-expanded", String(!list.hidden));
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const close = () => {
    clearTimeout(timer);
    seq += 1;
    show([]);
  };
  const highlight = (index) => {
    const all = options();
    all.forEach((node, i) => node.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (all[index]) input.setAttribute("aria-activedescendant", all[index].id);
  };
  const option = (i, href, item, label, detail, picture, ...extra) => {
    const link = el("a", { href, tabindex: "-1" }, picture, el("span", {}, label, " ", el("span", { class: "detail" }, detail)));
    if (onPick && item) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        close();
        onPick(item);
      });
    }
    return el("li", { id: `${list.id}-${i}`, role: "option", "aria-selected": "false" }, link, ...extra);
  };
  const suggestion = (item, i) =>
    option(
      i,
      suggestionHref(item),
      item,
      item.kind === "hashtag" ? `#${item.text}` : item.text,
      item.detail || KIND_LABELS[item.kind],
      item.kind === "user" ? avatar({ username: item.text, avatar_url: item.image_url }) : null,
    );
  const remove = async (entry, row) => {
    await api(`/search/history/${entry.id}`, { method: "DELETE" });
    row.remove();
    if (!options().length) show([]);
  };
  const recentEntry = (entry, i) => {
    const button = el("button", { type: "button", class: "remove", "aria-label": `Remove ${entry.query}` }, "×");
    const row = option(
      i,
      historyHref(entry),
      null,
      entry.target_type === "hashtag" ? `#${entry.query}` : entry.query,
      KIND_LABELS[entry.target_type] || "Search",
      entry.target_type === "user" ? avatar({ username: entry.query }) : null,
      button,
    );
    button.addEventListener("click", () => remove(entry, row).catch(reportError));
    return row;
  };
  const recent = async () => {
    const mine = ++seq;
    const data = await api(`/search/history${query({ limit: 8 })}`);
    if (mine !== seq || input.value.trim()) return;
    if (!data.items.length) return show([]);
    const clear = el("button", { type: "button", class: "link-button" }, "Clear all");
    clear.addEventListener("click", () =>
      api("/search/history", { method: "DELETE" })
        .then(() => show([]))
        .catch(reportError),
    );
    show([
      el("li", { class: "suggestions-head", role: "presentation" }, el("strong", {}, "Recent"), clear),
      ...data.items.map(recentEntry),
    ]);
  };
  const showRecent = () => {
    if (history && viewer && !input.value.trim()) recent().catch(reportError);
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (!text) {
      seq += 1;
      show([]);
      return showRecent();
    }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const items = await source(text);
        if (mine !== seq) return; // a later keystroke's answer wins
        // An answer that lands after the user picked an option keeps that option picked.
        const picked = options()[active]?.querySelector("a")?.getAttribute("href");
        show(items.map(suggestion));
        const again = options().findIndex((node) => node.querySelector("a").getAttribute("href") === picked);
        if (picked && again >= 0) highlight(again);
      } catch (error) {
        if (mine === seq) show([]);
      }
    }, 150);
  });
  input.addEventListener("focus", showRecent);
  input.addEventListener("keydown", (event) => {
    const count = list.hidden ? 0 : options().length;
    if (event.key === "ArrowDown" && count) {
      event.preventDefault();
      highlight((active + 1) % count);
    } else if (event.key === "ArrowUp" && count) {
      event.preventDefault();
      highlight((active - 1 + count) % count);
    } else if (event.key === "Enter" && active >= 0 && count) {
      event.preventDefault();
      options()[active].querySelector("a").click();
    } else if (event.key === "Escape") {
      close();
    }
  });
  // Pressing in the list keeps the focus in the box, so its buttons work and it stays open.
  list.addEventListener("mousedown", (event) => event.preventDefault());
  const leave = () =>
    setTimeout(() => list.contains(document.activeElement) || document.activeElement === input || close(), 150);
  input.addEventListener("blur", leave);
  list.addEventListener("focusout", leave);
  return { close };
}
