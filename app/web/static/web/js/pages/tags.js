// Hashtag and place pages: a header and a Top / Recent grid. The server answers 404 for an
// unknown tag or place, so the page always has a header to fill.
import { $, api, body, el, plural, query, reportError } from "../core.js";
import { gridPager } from "../render.js";

function orderedGrid(path, header) {
  const tabs = [...document.querySelectorAll(".tab")];
  let order = "top";
  const load = () => {
    $("#grid").replaceChildren();
    $(".empty").hidden = true;
    let first = true;
    const more = gridPager(async (cursor) => {
      const data = await api(`${path}${query({ order, cursor, limit: 12 })}`);
      if (first) header(data);
      first = false;
      return data;
    }, "No posts yet.");
    return more();
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      order = tab.dataset.order;
      tabs.forEach((t) => t.setAttribute("aria-pressed", String(t === tab)));
      // A fresh "Load more" button drops the old order's listener and cursor.
      const old = $('[data-action="more"]');
      old.replaceWith(old.cloneNode(true));
      load().catch(reportError);
    });
  }
  return load();
}

// The page's picture, as Instagram's: the top post's photo, once, beside the title.
function cover(data) {
  const thumb = data.items[0]?.images?.[0]?.thumb_url;
  if (thumb && !$(".page-cover")) $(".page-header").prepend(el("img", { class: "page-cover", src: thumb, alt: "" }));
}

export const hashtag = () =>
  orderedGrid(`/hashtags/${encodeURIComponent(body.dataset.hashtag)}`, (data) => {
    // The URL may spell the tag in capitals or full width: show the name it is stored under.
    cover(data);
    $('[data-role="title"]').textContent = `#${data.hashtag.name}`;
    $('[data-role="summary"]').textContent = plural(data.hashtag.post_count, "post");
  });

export const place = () =>
  orderedGrid(`/places/${body.dataset.place}`, (data) => {
    cover(data);
    $('[data-role="summary"]').textContent = [data.place.address, plural(data.place.post_count, "post")]
      .filter(Boolean)
      .join(" · ");
  });
