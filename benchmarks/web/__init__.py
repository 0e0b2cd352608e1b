"""The browser app's budgets, measured in a real browser (`make bench-web`)."""
