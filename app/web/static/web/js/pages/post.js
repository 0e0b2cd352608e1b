// One post: the card, every comment, delete for the author.
import { $, api, body, el, pager, query, reportError, viewer } from "../core.js";
import { commentItem, postCard } from "../render.js";

export const post = async () => {
  const holder = $("#post");
  const postId = body.dataset.post;
  const post = await api(`/posts/${postId}`);
  const { card, comments } = postCard(post, { full: true });
  holder.append(card);
  const olderButton = el("button", { type: "button", class: "link-button muted", hidden: true }, "Load more comments");
  comments.before(olderButton);
  const loadComments = pager({
    button: olderButton,
    fetchPage: (cursor) => api(`/posts/${postId}/comments${query({ cursor })}`),
    render: (comment) => comments.append(commentItem(comment)),
  });
  if (post.author.username === viewer) {
    const remove = el("button", { type: "button", class: "button secondary small" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!confirm("Delete this post?")) return;
      try {
        await api(`/posts/${postId}`, { method: "DELETE" });
        location.assign(`/u/${encodeURIComponent(viewer)}`);
      } catch (error) {
        reportError(error);
      }
    });
    $(".post-head", card).append(el("span", { class: "spacer", style: "flex:1" }), remove);
  }
  return loadComments();
};
