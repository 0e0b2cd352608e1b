// Placeholder: filled in by the web-app work of issue 14.
export function start() {}
