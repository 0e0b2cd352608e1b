// The upload form.
import { $, api, el, showFormError } from "../core.js";

export const upload = () => {
  const form = $("#upload-form");
  const input = $("#upload-images");
  const previews = $(".previews");
  input.addEventListener("change", () => {
    previews.replaceChildren(
      ...[...input.files].map((file) => el("img", { src: URL.createObjectURL(file), alt: `Preview of ${file.name}` })),
    );
  });
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
      const post = await api("/posts", { method: "POST", form: new FormData(form) });
      location.assign(`/p/${post.id}`);
    } catch (error) {
      showFormError(form, error.message);
      button.disabled = false;
    }
  });
};
