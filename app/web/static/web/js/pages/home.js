// The home feed: pages that keep loading as the reader scrolls, and the posts of accounts they
// follow arriving live (the fan-out job's feed.post frames, app/feed/jobs.py).
import { $, ApiError, api, el, pager, query, reportError } from "../core.js";
import { autoLoad, avatar, followButton, postCard, userLink } from "../render.js";
import { userSocket } from "../socket.js";

// Near the top a new post goes straight in; further down it waits behind the "New posts"
// pill, so nothing moves under the reader's eyes.
const TOP_PX = 150;

const shown = (feed, id) => Boolean(feed.querySelector(`[data-post-id="${id}"]`));

// An empty feed suggests people to follow: the authors of the recommender's posts for you.
async function suggest(section) {
  const { items } = await api(`/explore${query({ limit: 24 })}`);
  const people = [...new Map(items.map((post) => [post.author.username, post.author])).values()];
  if (!people.length) return;
  const list = $(".suggested", section);
  for (const user of people.slice(0, 5)) {
    const who = el("span", { class: "who" }, userLink(user), el("span", { class: "detail" }, user.name || "Suggested for you"));
    list.append(el("li", {}, avatar(user), who, followButton(user.username)));
  }
  list.hidden = false;
  $("h2", section).hidden = false;
}

function live(feed, empty) {
  const pill = $('[data-action="new-posts"]');
  const waiting = [];
  const reveal = () => {
    for (const post of waiting.splice(0)) if (!shown(feed, post.id)) feed.prepend(postCard(post).card);
    pill.hidden = true;
    empty.hidden = true;
  };
  pill.addEventListener("click", () => {
    reveal();
    scrollTo({ top: 0, behavior: "smooth" });
  });
  const arrived = async (id) => {
    if (shown(feed, id) || waiting.some((post) => post.id === id)) return;
    let post;
    try {
      post = await api(`/posts/${id}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) reportError(error);
      return; // deleted again, or no longer visible to this reader
    }
    if (waiting.some((p) => p.id === id)) return;
    waiting.push(post);
    if (scrollY < TOP_PX && document.visibilityState === "visible") return reveal();
    const authors = [...new Map(waiting.map((p) => [p.author.username, p.author])).values()];
    pill.replaceChildren(...authors.slice(-3).map((user) => avatar(user)), "New posts");
    pill.hidden = false;
  };
  userSocket({ onFrame: (frame) => frame.type === "feed.post" && arrived(frame.post) });
}

export const home = async () => {
  const feed = $("#feed");
  const empty = $(".feed-empty");
  const button = $('[data-action="more"]');
  const more = pager({
    button,
    fetchPage: (cursor) => api(`/feed${query({ cursor, limit: 10 })}`),
    render: (post) => shown(feed, post.id) || feed.append(postCard(post).card),
    onEmpty: () => {
      empty.hidden = false;
      suggest(empty).catch(reportError);
    },
  });
  live(feed, empty);
  await more();
  autoLoad(more, button);
};
