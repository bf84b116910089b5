# Two commands set everything up on a fresh Debian machine:
#   make run    system packages, .venv, the project, then the pipeline on the embedded default
#   make test   the same set-up, then ruff and pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := espeak-ng libsndfile1 ffmpeg sox python3-venv chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test lint system-deps venv clean help serve

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps:  ## install the Debian packages the pipeline calls (espeak-ng, libsndfile, ffmpeg, sox)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: system-deps $(BIN)/.installed  ## create .venv and install the project with its dev tools

run: venv  ## the main job: the Prefect training flow on the embedded default, a sample prediction, where to look
	python -m flows.pipeline
	python -m serving.local
	@emotionthinker summary
	@echo "Results: reports/leaderboard.md, plots/ (dvc plots show), metrics/ (dvc metrics show)."
	@echo "Run history: prefect server start, then http://127.0.0.1:4200. Serve the promoted model: make serve."

lint: venv  ## ruff lint and format check
	ruff check .
	ruff format --check .

test: lint  ## lint, then the test suite
	pytest

serve: venv  ## serve the promoted model on 127.0.0.1:3000 (PORT=8080 make serve; EMOTIONTHINKER_* settings)
	bentoml serve serving.service:EmotionThinker --host 127.0.0.1 --port $${PORT:-3000}

clean:  ## remove pipeline outputs (keeps .venv)
	rm -rf data metrics plots reports models
