// Search results by kind, with the typeahead and history.
import { $, api, el, plural, query, reportError, viewer } from "../core.js";
import { avatar, tile } from "../render.js";
import { typeahead } from "../typeahead.js";

function resultSection(title, items, render) {
  if (!items.length) return null;
  return el("section", {}, el("h2", {}, title), render(items));
}

function linkList(items, href, label, detail) {
  return el(
    "ul",
    { class: "result-list" },
    items.map((item) =>
      el("li", {}, el("a", { href: href(item) }, label(item), el("span", { class: "detail" }, detail(item)))),
    ),
  );
}

export const search = () => {
  const form = $("#search-form");
  const input = $("#search-q");
  const results = $("#results");
  const record = (entry) => {
    if (viewer) api("/search/history", { method: "POST", json: entry }).catch(() => {});
  };
  typeahead(input, $("#suggestions"), (item) =>
    record({ query: input.value.trim() || item.text, kind: "click", target_type: item.kind, target_id: item.id }),
  );
  const run = async (q) => {
    results.replaceChildren(el("p", { class: "muted" }, "Searching…"));
    const data = await api(`/search${query({ q, type: "all" })}`);
    const sections = [
      resultSection("Accounts", data.users.items, (items) =>
        linkList(
          items,
          (u) => `/u/${encodeURIComponent(u.username)}`,
          (u) => [avatar(u), el("strong", {}, u.username)],
          (u) => `${u.name ? `${u.name} · ` : ""}${plural(u.follower_count, "follower")}`,
        ),
      ),
      resultSection("Hashtags", data.hashtags.items, (items) =>
        linkList(
          items,
          (h) => `/tags/${encodeURIComponent(h.name)}`,
          (h) => el("strong", {}, `#${h.name}`),
          (h) => plural(h.post_count, "post"),
        ),
      ),
      resultSection("Places", data.places.items, (items) =>
        linkList(
          items,
          (p) => `/places/${p.id}`,
          (p) => el("strong", {}, p.name),
          (p) => `${p.address} · ${plural(p.post_count, "post")}`,
        ),
      ),
      resultSection("Posts", data.posts.items, (items) => el("div", { class: "grid" }, items.map(tile))),
    ].filter(Boolean);
    results.replaceChildren(...(sections.length ? sections : [el("p", { class: "empty muted" }, `No results for “${q}”.`)]));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    history.replaceState(null, "", `/search${query({ q })}`);
    record({ query: q, kind: "query" });
    run(q).catch(reportError);
  });
  if (input.value.trim()) return run(input.value.trim());
  return null;
};
