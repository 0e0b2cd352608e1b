// Log in and sign up.
import { $, api, body, showFormError } from "../core.js";

function authForm(formId, path, fields) {
  const form = $(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const payload = Object.fromEntries(fields.map((name) => [name, String(data.get(name) || "").trim()]));
    if (fields.some((name) => !payload[name])) {
      showFormError(form, "Fill in every field.");
      return;
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      await api(path, { method: "POST", json: payload });
      location.assign(body.dataset.next || "/");
    } catch (error) {
      showFormError(form, error.message);
      button.disabled = false;
    }
  });
}

export const login = () => authForm("#login-form", "/auth/login", ["username", "password"]);
export const signup = () => authForm("#signup-form", "/auth/signup", ["email", "username", "password"]);
