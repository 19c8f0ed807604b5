# Developer entry points. `make app` sets everything up and opens the app on the
# built-in demo; `make test` runs the whole suite (what CI runs).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DATA ?= demo-data/xbd
DEMO_WS ?= demo-workspace
PORT ?= 8501

.PHONY: venv app demo test lint format bench results clean-demo

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Built-in demo: generated xBD-format data, ingest, short training, results.
$(DEMO_WS)/demo.json: | $(STAMP)
	$(BIN)/stcrl demo --workspace $(DEMO_WS) --data $(DEMO_DATA)

demo: $(DEMO_WS)/demo.json

app: $(STAMP) demo
	STCRL_WORKSPACE=$(DEMO_WS) $(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -q

# Rebuild docs/results.md from the commands it shows (three demo seeds; about 30 min).
results: $(STAMP)
	$(BIN)/python docs/make_results.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

clean-demo:
	rm -rf $(DEMO_DATA) $(DEMO_WS)
