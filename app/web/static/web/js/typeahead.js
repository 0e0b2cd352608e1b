// The search typeahead: a combobox over /api/search/suggest, arrow keys and Enter.
import { $, api, el, query } from "./core.js";
import { avatar } from "./render.js";

export function suggestionHref(item) {
  if (item.kind === "user") return `/u/${encodeURIComponent(item.text)}`;
  if (item.kind === "hashtag") return `/tags/${encodeURIComponent(item.text)}`;
  return `/places/${item.id}`;
}

export function typeahead(input, list, onPick) {
  let timer = null;
  let active = -1;
  let seq = 0;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    const options = [...list.children];
    options.forEach((node, i) => node.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (options[index]) input.setAttribute("aria-activedescendant", options[index].id);
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (!text) return close();
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const data = await api(`/search/suggest${query({ q: text })}`);
        if (mine !== seq) return; // a later keystroke's answer wins
        // An answer that lands after the user picked an option keeps that option picked.
        const picked = active >= 0 ? list.children[active]?.querySelector("a")?.getAttribute("href") : null;
        list.replaceChildren(
          ...data.items.map((item, i) => {
            const label = item.kind === "hashtag" ? `#${item.text}` : item.text;
            const link = el(
              "a",
              { href: suggestionHref(item), tabindex: "-1" },
              item.kind === "user" ? avatar({ username: item.text, avatar_url: item.image_url }) : null,
              el("span", {}, label, " ", el("span", { class: "detail" }, item.detail || item.kind)),
            );
            link.addEventListener("click", () => onPick(item));
            return el("li", { id: `suggestion-${i}`, role: "option", "aria-selected": "false" }, link);
          }),
        );
        list.hidden = !data.items.length;
        input.setAttribute("aria-expanded", String(!list.hidden));
        active = -1;
        const again = [...list.children].findIndex((node) => node.querySelector("a")?.getAttribute("href") === picked);
        if (picked && again >= 0) highlight(again);
      } catch (error) {
        close();
      }
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    const count = list.hidden ? 0 : list.children.length;
    if (event.key === "ArrowDown" && count) {
      event.preventDefault();
      highlight((active + 1) % count);
    } else if (event.key === "ArrowUp" && count) {
      event.preventDefault();
      highlight((active - 1 + count) % count);
    } else if (event.key === "Enter" && active >= 0 && count) {
      event.preventDefault();
      $("a", list.children[active]).click();
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 200));
}
