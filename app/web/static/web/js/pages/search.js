// The search page: results by kind, each with "More"; trending searches when there is no
// query; the typeahead with recent searches.
import { $, api, el, plural, query, reportError } from "../core.js";
import { avatar, tile } from "../render.js";
import { openPick, remember, typeahead } from "../typeahead.js";

const FIRST = 6; // per kind on the first page: two rows of the posts grid
const MORE = 12;

// Each kind's section: its title, and how one result reads (posts are grid tiles).
const KINDS = {
  users: {
    title: "Accounts",
    href: (u) => `/u/${encodeURIComponent(u.username)}`,
    label: (u) => [avatar(u), el("strong", {}, u.username)],
    detail: (u) => `${u.name ? `${u.name} · ` : ""}${plural(u.follower_count, "follower")}`,
  },
  hashtags: {
    title: "Hashtags",
    href: (h) => `/tags/${encodeURIComponent(h.name)}`,
    label: (h) => el("strong", {}, `#${h.name}`),
    detail: (h) => plural(h.post_count, "post"),
  },
  places: {
    title: "Places",
    href: (p) => `/places/${p.id}`,
    label: (p) => el("strong", {}, p.name),
    detail: (p) => [p.address, plural(p.post_count, "post")].filter(Boolean).join(" · "),
  },
  posts: { title: "Posts" },
};

function resultSection(q, kind, first) {
  const spec = KINDS[kind];
  const box = spec.detail ? el("ul", { class: "result-list" }) : el("div", { class: "grid" });
  const add = (items) =>
    box.append(
      ...items.map((item) =>
        spec.detail
          ? el("li", {}, el("a", { href: spec.href(item) }, spec.label(item), el("span", { class: "detail" }, spec.detail(item))))
          : tile(item),
      ),
    );
  add(first.items);
  let cursor = first.next_cursor;
  const more = el("button", { type: "button", class: "button secondary more", hidden: !cursor }, `More ${spec.title.toLowerCase()}`);
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api(`/search${query({ q, type: kind, cursor, limit: MORE })}`);
      add(page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (error) {
      reportError(error);
    } finally {
      more.disabled = false;
    }
  });
  return el("section", { class: "result-section", "data-kind": kind }, el("h2", {}, spec.title), box, more);
}

async function results(q) {
  const data = await api(`/search${query({ q, type: "all", limit: FIRST })}`);
  const sections = Object.keys(KINDS)
    .filter((kind) => data[kind].items.length)
    .map((kind) => resultSection(q, kind, data[kind]));
  return sections.length ? sections : [el("p", { class: "empty muted" }, `No results for “${q}”.`)];
}

const searches = (n) => `${n.toLocaleString()} ${n === 1 ? "search" : "searches"}`;

async function trending() {
  const data = await api("/search/trending");
  if (!data.items.length) return [el("p", { class: "empty muted" }, "Search for accounts, #hashtags, places and posts.")];
  return [
    el(
      "section",
      { class: "trending" },
      el("h2", {}, "Trending"),
      el(
        "ol",
        { class: "result-list" },
        data.items.map((item) =>
          el("li", {}, el("a", { href: `/search${query({ q: item.query })}` }, el("strong", {}, item.query), el("span", { class: "detail" }, searches(item.searches)))),
        ),
      ),
    ),
  ];
}

export const search = () => {
  const form = $("#search-form");
  const input = $("#search-q");
  const box = $("#results");
  const suggestions = typeahead(input, $("#suggestions"), {
    history: true,
    onPick: openPick,
  });
  const show = async (q) => {
    box.replaceChildren(el("p", { class: "muted" }, "Searching…"));
    box.replaceChildren(...(await (q ? results(q) : trending())));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    // No suggestion list over the results: a keystroke's answer still on its way is dropped.
    suggestions.close();
    input.blur();
    history.replaceState(null, "", `/search${query({ q })}`);
    remember({ query: q, kind: "query" });
    show(q).catch(reportError);
  });
  const q = input.value.trim();
  return Promise.all([q && remember({ query: q, kind: "query" }), show(q)]);
};
