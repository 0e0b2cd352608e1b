// The upload form: photos with a preview, an optional 1:1 or 4:5 crop made here on a canvas
// (the API receives the cropped JPEG), alt text per photo, a caption and a place.
import { $, api, el, plural, query, showFormError } from "../core.js";
import { typeahead } from "../typeahead.js";

// The centre of the photo at `ratio` (width / height), as a JPEG; the file itself without one.
async function cropped(file, ratio) {
  if (!ratio) return file;
  const bitmap = await createImageBitmap(file);
  const width = Math.min(bitmap.width, Math.round(bitmap.height * ratio));
  const height = Math.min(bitmap.height, Math.round(bitmap.width / ratio));
  const canvas = el("canvas", { width, height });
  const x = (bitmap.width - width) / 2;
  const y = (bitmap.height - height) / 2;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff"; // a transparent PNG's clear pixels would turn black in a JPEG
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, x, y, width, height, 0, 0, width, height);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  return new File([blob], `${file.name.replace(/\.[^.]*$/, "")}.jpg`, { type: "image/jpeg" });
}

function photoItem(file, index, count) {
  const id = `alt-${index}`;
  const which = count > 1 ? ` ${index + 1}` : "";
  return el(
    "li",
    { class: "photo" },
    el("img", { src: URL.createObjectURL(file), alt: `Preview of ${file.name}` }),
    el("label", { for: id }, `Alt text for photo${which}`),
    el("textarea", { id, class: "alt-text", rows: "3", maxlength: "500", placeholder: "Describe the photo for people who can't see it" }),
  );
}

function placePicker() {
  const input = $("#upload-place");
  const chosen = $(".place-chosen");
  let placeId = null;
  const pick = (item) => {
    placeId = item ? item.id : null;
    $('[data-role="place-name"]').textContent = item ? item.text : "";
    input.value = "";
    input.hidden = Boolean(item);
    chosen.hidden = !item;
    if (!item) input.focus();
  };
  typeahead(input, $("#place-suggestions"), {
    source: async (text) => {
      const page = await api(`/search${query({ q: text, type: "places", limit: 8 })}`);
      return page.items.map((p) => ({ kind: "place", id: p.id, text: p.name, detail: p.address || plural(p.post_count, "post") }));
    },
    onPick: pick,
  });
  $('[data-action="place-clear"]').addEventListener("click", () => pick(null));
  return () => placeId;
}

export const upload = () => {
  const form = $("#upload-form");
  const input = $("#upload-images");
  const previews = $(".previews");
  const crop = $(".crop");
  const ratio = () => Number($("input[name=crop]:checked", form).value) || null;
  const placeId = placePicker();
  input.addEventListener("change", () => {
    const files = [...input.files];
    previews.replaceChildren(...files.map((file, i) => photoItem(file, i, files.length)));
    crop.hidden = !files.length;
  });
  crop.addEventListener("change", () => previews.style.setProperty("--crop", ratio() || "auto"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.files.length) {
      showFormError(form, "Choose at least one photo.");
      return;
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    showFormError(form, "");
    try {
      const data = new FormData();
      for (const file of input.files) data.append("images", await cropped(file, ratio()));
      for (const alt of form.querySelectorAll(".alt-text")) data.append("alt_text", alt.value.trim());
      data.append("caption", $("#upload-caption").value);
      if (placeId()) data.append("place", placeId());
      const post = await api("/posts", { method: "POST", form: data });
      location.assign(`/p/${post.id}`);
    } catch (error) {
      showFormError(form, error.message);
      button.disabled = false;
    }
  });
};
