# Two commands, on any machine with a python3 >= 3.11:
#   make demo   sets everything up, fuzzes the bundled example suite, shows what was found
#   make test   sets everything up and runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
DEMO_SECONDS ?= 90
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hypofuzz_nb needs Python >= 3.11, this is " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	cd examples && rm -rf .hypothesis && ../$(BIN)/hypofuzz-nb fuzz tests --max-time $(DEMO_SECONDS) --no-dashboard; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo; echo "== plain pytest replays what the fuzzer found (a failure here is the point) =="
	cd examples && ../$(BIN)/python -m pytest tests -q -p no:cacheprovider; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo; echo "== what the database holds =="
	cd examples && ../$(BIN)/hypofuzz-nb fuzz tests --dashboard-only; rc=$$?; [ $$rc -le 1 ] || exit $$rc

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	  exit $$rc

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-* .hypothesis examples/.hypothesis
