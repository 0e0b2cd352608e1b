# instalab: the Makefile is the interface (docs/architecture.md). CI calls the same targets a person does.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SCALE ?= small
SEED ?= 42
export PYTHONPATH := $(CURDIR)

.DEFAULT_GOAL := help
.PHONY: help install install-dev services stop status migrate run test lint fmt bench clean-var

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# Reinstalls only when a lock or pyproject changes, so a second `make run` is fast. `make run`
# installs what the app needs (requirements.lock); tests, lint and the lab's instruments add
# their tooling (requirements-dev.lock) on first use.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	@touch $(DEV_STAMP)

# MEDIA_STORAGE=s3 (media in a bucket, docs/scaling.md) adds django-storages and boto3.
S3_STAMP := $(VENV)/.installed-s3
$(S3_STAMP): $(STAMP) requirements-s3.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-s3.lock
	@touch $(S3_STAMP)

install: $(STAMP) $(if $(filter s3,$(MEDIA_STORAGE)),$(S3_STAMP))  ## create .venv and install what the app needs to run
install-dev: $(DEV_STAMP)  ## add the test, lint and load-test tooling

services: $(STAMP) $(if $(filter s3,$(MEDIA_STORAGE)),$(S3_STAMP))  ## start embedded PostgreSQL and Redis under var/ (no-op when URLs are set) [REPLICAS=1: and a hot standby, docs/scaling.md]
	@$(BIN)/python -m ops.services start$(if $(REPLICAS), --replicas $(REPLICAS))

stop: $(STAMP)  ## stop the embedded servers
	@$(BIN)/python -m ops.services stop

status: $(STAMP)  ## show the embedded servers' state
	@$(BIN)/python -m ops.services status

migrate: services  ## apply migrations
	@$(BIN)/python manage.py migrate --no-input -v 0

run: migrate  ## seed `small` if the database is empty (a demo login with a world), then serve http://127.0.0.1:8000 and /ws/ [HOST= PORT= WS_PORT= REPLICAS=; NODES=2: app nodes behind HAProxy]
	@$(BIN)/python -m seed --scale $(SCALE) --seed $(SEED) --if-empty
	@$(BIN)/python -m seed.demo_user
	@$(BIN)/python manage.py recs_train --if-stale
	@$(if $(REPLICAS),DATABASE_REPLICA_URLS="$$($(BIN)/python -m ops.services replica-urls)" )$(if $(filter-out 0 1,$(NODES)),NODES=$(NODES) $(BIN)/python -m ops.nodes,$(BIN)/python -m ops.serve)

test: $(DEV_STAMP) services  ## the whole suite on real servers, plus lint and migration checks
	$(BIN)/python manage.py makemigrations --check --dry-run -v 1
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)  ## ruff, mypy, the import rules (lint-imports), the docs' package graph, sizes
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app ops
	$(BIN)/lint-imports
	$(BIN)/python -m tools.depgraph --check
	$(BIN)/python -m tools.sizes --check

.PHONY: docs
docs: $(DEV_STAMP)  ## redraw the package graph in docs/architecture.md
	$(BIN)/python -m tools.depgraph

fmt: $(DEV_STAMP)  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: bench-serving
bench-serving: $(DEV_STAMP) migrate  ## granian WSGI vs gunicorn vs granian ASGI vs uvicorn, side by side (needs wrk)
	$(BIN)/python -m benchmarks.serving

# --- hot paths at the cost of the cache (docs/profiling.md) -----------------------------------
.PHONY: bench-endpoints profile
bench-endpoints: $(DEV_STAMP) services  ## each hot endpoint's req/s as a share of /lab/hello, CPU ms/req: [ENDPOINTS=feed,me STRATEGY= ROUNDS= SECONDS= BASE_URL=] (needs wrk)
	$(BIN)/python -m benchmarks.endpoints --scale $(SCALE) $(if $(ENDPOINTS),--only $(ENDPOINTS)) \
		$(if $(STRATEGY),--strategy "$(STRATEGY)") $(if $(ROUNDS),--rounds $(ROUNDS)) \
		$(if $(SECONDS),--seconds $(SECONDS)) $(if $(BASE_URL),--base-url $(BASE_URL))

.PHONY: bench-web
bench-web: $(DEV_STAMP) services  ## the browser app's budgets in chromium on a production-mode server: feed FCP, JS <= 100 KB, layout shift 0, live DM p95 <= 500 ms [LOADS=15 EVENTS=50]; reports/web-budgets.{json,md}
	$(BIN)/python -m benchmarks.web.budgets --scale $(SCALE) $(if $(LOADS),--loads $(LOADS)) \
		$(if $(EVENTS),--events $(EVENTS))

.PHONY: bench-login-flood
bench-login-flood: $(DEV_STAMP) services  ## other endpoints' p95 under 32 wrong-password clients vs unloaded (issue 13: within 2x) [SECONDS=12]
	$(BIN)/python -m benchmarks.login_flood $(if $(SECONDS),--seconds $(SECONDS))

.PHONY: bench-commits
bench-commits: $(DEV_STAMP) services  ## two revisions side by side in one run: BEFORE=d6c07f2 [AFTER=HEAD GATE=1 ROUNDS= SECONDS=]; worktrees, own databases, perf-check's probes interleaved (needs wrk)
	@test -n "$(BEFORE)" || { echo 'usage: make bench-commits BEFORE=<rev> [AFTER=HEAD] [GATE=1]' >&2; exit 2; }
	$(BIN)/python -m benchmarks.commits --before "$(BEFORE)" --after "$(or $(AFTER),HEAD)" \
		$(if $(GATE),--gate) $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(SECONDS),--seconds $(SECONDS))

.PHONY: bench-calls
bench-calls: $(DEV_STAMP) services  ## Python calls and SQL per warm request of perf-check's probes on two revisions, in-process: BEFORE=d6c07f2 [AFTER=HEAD ONLY= REQUESTS=30]; noise-free CPU work (docs/regressions.md)
	@test -n "$(BEFORE)" || { echo 'usage: make bench-calls BEFORE=<rev> [AFTER=HEAD] [ONLY=feed.naive,...]' >&2; exit 2; }
	$(BIN)/python -m benchmarks.commitcalls --before "$(BEFORE)" --after "$(or $(AFTER),HEAD)" \
		$(if $(ONLY),--only $(ONLY)) $(if $(REQUESTS),--requests $(REQUESTS))

profile: $(DEV_STAMP) services  ## py-spy flame graph of one endpoint under wrk: ENDPOINT=/api/feed [STRATEGY= SECONDS=20 BASE_URL=]
	@test -n "$(ENDPOINT)" || { echo 'usage: make profile ENDPOINT=/api/feed [STRATEGY=feed=optimized] [SECONDS=20]' >&2; exit 2; }
	$(BIN)/python -m benchmarks.profile --endpoint "$(ENDPOINT)" $(if $(STRATEGY),--strategy "$(STRATEGY)") \
		$(if $(SECONDS),--seconds $(SECONDS)) $(if $(BASE_URL),--base-url $(BASE_URL))


# --- capacity model (docs/scaling.md) ------------------------------------------------------------
.PHONY: capacity capacity-measure
capacity: $(DEV_STAMP)  ## hardware for an audience from the measured costs: make capacity DAU=10000000 [MODEL=benchmarks/capacity/model.toml]; reports/capacity/dau-N.md
	@test -n "$(DAU)" || { echo 'usage: make capacity DAU=10000000' >&2; exit 2; }
	$(BIN)/python -m benchmarks.capacity $(if $(MODEL),--model $(MODEL)) plan --dau "$(DAU)"

capacity-measure: $(DEV_STAMP) services  ## per-request costs into benchmarks/results/capacity-costs.json (writes rows: point DATABASE_URL at a seeded database of its own)
	$(BIN)/python -m benchmarks.capacity measure

.PHONY: seed
seed: migrate  ## seed data: make seed SCALE=tiny|small|medium|large [SEED=42] [RESET=1]
	$(BIN)/python -m seed --scale $(SCALE) --seed $(SEED) $(if $(RESET),--reset)

.PHONY: bench-feed
bench-feed: $(DEV_STAMP) services  ## feed: naive vs optimized vs cached, fan-out freshness, Redis memory (docs/experiments/feed.md)
	$(BIN)/python -m pytest benchmarks/feed -q -p no:cacheprovider \
		--benchmark-columns=median,mean,rounds \
		--benchmark-json benchmarks/results/feed-pytest-benchmark.json

bench: bench-feed bench-search bench-chat bench-recs  ## every pytest-benchmark suite; results saved under benchmarks/results/

.PHONY: bench-search
bench-search: $(DEV_STAMP) services  ## search: naive vs indexed vs cached per kind and typeahead (docs/experiments/search.md)
	$(BIN)/python -m pytest benchmarks/search -q -s -p no:cacheprovider \
		--benchmark-columns=median,mean,rounds \
		--benchmark-json benchmarks/results/search-$(SCALE)-pytest-benchmark.json

.PHONY: bench-chat chat-load
.PHONY: bench-replicas
bench-replicas: $(DEV_STAMP)  ## read replicas: PAIRS=10000 write-then-read pairs with replay paused, a standby stopped mid-load (docs/scaling.md)
	$(BIN)/python -m benchmarks.replicas --pairs $(or $(PAIRS),10000)

bench-chat: $(DEV_STAMP) services  ## chat: inbox naive vs optimized (200 rooms), send+broadcast, layer round trips (docs/experiments/chat.md)
	$(BIN)/python -m pytest benchmarks/chat -q -s -p no:cacheprovider \
		--benchmark-columns=median,mean,rounds \
		--benchmark-json benchmarks/results/chat-pytest-benchmark.json

CHAT_WS ?= ws://127.0.0.1:8001/ws/
CHAT_USERS ?= 2000
CHAT_HOLD ?= 300
CHAT_RATE ?= 200
CHAT_DURATION ?= 60
CHAT_OUT ?= benchmarks/results/chat-load.json
chat-load: $(DEV_STAMP) services  ## WebSocket load driver against a running `python -m ops.serve` (docs/experiments/chat.md)
	$(BIN)/python -m benchmarks.chat_load --ws $(CHAT_WS) --users $(CHAT_USERS) --hold $(CHAT_HOLD) \
		--rate $(CHAT_RATE) --duration $(CHAT_DURATION) $(if $(CHAT_DEFLATE),--deflate) --out $(CHAT_OUT)

# --- load tests (docs/loadtesting.md) ---------------------------------------------------------
SCENARIO ?= feed
USERS ?= 50
SPAWN ?= 10
DURATION ?= 60s
SHAPE ?= steady
WORKERS ?= 0
WARMUP ?= 10s
THINK ?= 1
PERSONAS ?= 0
LOADTEST_ARGS = --scenario $(SCENARIO) --users $(USERS) --spawn $(SPAWN) --duration $(DURATION) \
	--scale $(SCALE) --seed $(SEED) --shape $(SHAPE) --workers $(WORKERS) --warmup $(WARMUP) \
	--think $(THINK) --personas-per-tier $(PERSONAS) $(if $(THRESHOLDS),--thresholds $(THRESHOLDS))

.PHONY: loadtest loadtest-compare silk-report
loadtest: $(DEV_STAMP)  ## headless Locust run: SCENARIO=feed|search|chat|mixed USERS= DURATION= [SCALE= STRATEGY= SHAPE= WORKERS= THRESHOLDS=]
	$(BIN)/python -m loadtests.run $(LOADTEST_ARGS) $(if $(STRATEGY),--strategy "$(STRATEGY)")

loadtest-compare: $(DEV_STAMP)  ## A/B on the same data and server: SCENARIO=feed A="feed=naive" B="feed=cached"
	@test -n "$(A)" -a -n "$(B)" || { echo 'usage: make loadtest-compare SCENARIO=feed A="feed=naive" B="feed=cached"' >&2; exit 2; }
	$(BIN)/python -m loadtests.run $(LOADTEST_ARGS) --compare "$(A)" "$(B)"

silk-report: $(DEV_STAMP)  ## N+1 suspects from the last `SILK=1 make loadtest` profiling pass, by endpoint
	$(BIN)/python -m loadtests.silk_report

# --- chaos lab (docs/reliability.md) ----------------------------------------------------------
# Its own PostgreSQL, Redis and app under var/chaos/; only what was given on the command line
# (or in the environment) is passed, so the load test's defaults above do not apply here.
chaos_arg = $(if $(filter command line environment,$(origin $(1))),$(2) $($(1)))

.PHONY: chaos
chaos: $(DEV_STAMP)  ## fault under load: SCENARIO=worker-kill|redis-outage|postgres-outage|redis-readonly [DURATION=short|full|90s USERS=]
	$(BIN)/python -m loadtests.chaos --scenario $(SCENARIO) $(if $(CHAOS_SHORT),--duration short) \
		$(call chaos_arg,DURATION,--duration) $(call chaos_arg,USERS,--users) \
		$(call chaos_arg,THINK,--think) $(call chaos_arg,PERSONAS,--personas-per-tier) \
		$(if $(KEEP_SERVICES),--keep-services)

# --- API fuzzer (docs/reliability.md, Bad input) -----------------------------------------------
BUDGET ?= 40
.PHONY: fuzz
fuzz: $(DEV_STAMP) services  ## schemathesis on every API operation of a live production-mode server: [BUDGET=40 cases/operation SEED=42]; fails on a 5xx or schema violation, report under reports/
	$(BIN)/python -m benchmarks.fuzz --budget $(BUDGET) --seed $(SEED)

.PHONY: train recs-evaluate
train: migrate  ## train the recommender (implicit ALS) and publish top-200 lists to Redis
	$(BIN)/python manage.py recs_train

recs-evaluate: migrate  ## random vs popular vs ALS vs blend on a held-out split (docs/experiments/recs.md)
	$(BIN)/python manage.py recs_evaluate $(if $(TUNE),--tune)

.PHONY: bench-recs
bench-recs: $(DEV_STAMP) services  ## explore (als, popular) vs the cached home feed, warm server time (docs/experiments/recs.md)
	$(BIN)/python -m pytest benchmarks/recs -q -s -p no:cacheprovider \
		--benchmark-columns=median,mean,rounds \
		--benchmark-json benchmarks/results/recs-pytest-benchmark.json

.PHONY: perf-check perf-baseline
RUNS ?= 5
perf-check: $(DEV_STAMP) services  ## regression check against this machine's baseline (benchmarks/baselines/<cpu>.json, else benchmarks/baseline.json): exact queries, calls per request, same-run ratios, CPU/request shown (docs/regressions.md; needs wrk)
	$(BIN)/python -m benchmarks.perfcheck check

perf-baseline: $(DEV_STAMP) services  ## measure RUNS=5 times and rewrite this kind of machine's baseline (a reviewed diff; another processor than benchmarks/baseline.json's gets benchmarks/baselines/<cpu>.json); ONLY=chat,feed.cached replaces just those probes' figures
	$(BIN)/python -m benchmarks.perfcheck baseline --runs $(RUNS)$(if $(ONLY), --only $(ONLY) --update)

.PHONY: dashboard
dashboard: $(DEV_STAMP)  ## build dashboards/site/index.html from reports/ and benchmarks/results/
	$(BIN)/python -m dashboards.build
	@echo "dashboard: file://$(CURDIR)/dashboards/site/index.html"
