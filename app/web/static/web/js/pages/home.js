// The home feed.
import { $, api, pager, query } from "../core.js";
import { postCard } from "../render.js";

export const home = () => {
  const feed = $("#feed");
  const more = pager({
    button: $('[data-action="more"]'),
    fetchPage: (cursor) => api(`/feed${query({ cursor, limit: 10 })}`),
    render: (post) => feed.append(postCard(post).card),
    onEmpty: () => {
      $(".empty").hidden = false;
    },
  });
  return more();
};
