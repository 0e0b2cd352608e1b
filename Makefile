# instalab: the Makefile is the interface (DESIGN.md). CI calls the same targets a person does.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= small
export PYTHONPATH := $(CURDIR)

.DEFAULT_GOAL := help
.PHONY: help install services stop status migrate run test lint fmt bench clean-var

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# Reinstalls only when the lock or pyproject changes, so a second `make run` is fast.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the pinned dependencies

services: $(STAMP)  ## start embedded PostgreSQL and Redis under var/ (no-op when URLs are set)
	@$(BIN)/python -m app.lab.services start

stop: $(STAMP)  ## stop the embedded servers
	@$(BIN)/python -m app.lab.services stop

status: $(STAMP)  ## show the embedded servers' state
	@$(BIN)/python -m app.lab.services status

migrate: services  ## apply migrations
	@$(BIN)/python manage.py migrate --no-input -v 0

run: migrate  ## serve the app on http://127.0.0.1:8000 (HTTP and /ws/), Ctrl-C stops it
	@$(BIN)/python manage.py lab_demo_user
	@$(BIN)/python -m app.lab.serve

test: services  ## the whole suite on real servers, plus lint and migration checks
	$(BIN)/python manage.py makemigrations --check --dry-run -v 1
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

fmt: $(STAMP)  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
