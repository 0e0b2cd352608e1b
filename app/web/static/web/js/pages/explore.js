// Explore: the recommender's posts for you (GET /api/explore) as a grid that keeps loading.
import { $, api, query } from "../core.js";
import { autoLoad, gridPager } from "../render.js";

export const explore = async () => {
  const more = gridPager(
    (cursor) => api(`/explore${query({ cursor, limit: 24 })}`),
    "Nothing to explore yet: come back when more people have shared photos.",
  );
  await more();
  autoLoad(more, $('[data-action="more"]'));
};
