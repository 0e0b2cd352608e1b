// The top bar's search box on every page: the typeahead, recent searches, Enter searches.
import { $, body } from "./core.js";
import { openPick, typeahead } from "./typeahead.js";

export async function start() {
  const form = $(".topbar-search");
  if (!form) return;
  // The search page has a box of its own above its results: one box there, not two.
  if (body.dataset.page === "search") {
    form.classList.add("replaced");
    return;
  }
  const input = $("#topbar-q");
  typeahead(input, $("#topbar-suggestions"), {
    history: true,
    onPick: openPick,
  });
  form.addEventListener("submit", (event) => {
    if (!input.value.trim()) event.preventDefault();
  });
}
