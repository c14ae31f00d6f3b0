# Two commands, on any machine with a python3 >= 3.11:
#   make demo   sets everything up, fuzzes the bundled example suite, shows what was found
#   make test   sets everything up and runs the whole test suite
#
# Both take the newest Python >= 3.11 that runs here (scripts/newest-python), so they share
# one .venv; PYTHON=... chooses another. A .venv built by another Python is rebuilt, and
# make says so.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell sh scripts/newest-python 11)
endif
VENV ?= .venv
PYTEST_ARGS ?=
DEMO_SECONDS ?= 90
BIN := $(VENV)/bin
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
STAMP := $(VENV)/.installed-$(PYVER)

.PHONY: demo test system-packages lint bench clean

$(STAMP): pyproject.toml
	@[ -n "$(PYVER)" ] || { echo "cannot run PYTHON=$(PYTHON): hypofuzz_nb needs a Python >= 3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hypofuzz_nb needs Python >= 3.11, this is " + sys.version'
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYVER)" ]; then \
	  echo "$(VENV) was built with another Python: rebuilding it with Python $(PYVER) ($(PYTHON))"; \
	  rm -rf $(VENV); fi
	@echo "setting up $(VENV) with Python $(PYVER) ($(PYTHON))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	@echo "== fuzzing examples/tests until the first failure (at most $(DEMO_SECONDS) s) on Python $(PYVER) ($(PYTHON)) =="
	@case "$(PYVER)" in 3.11) echo "(Python 3.11 measures coverage with sys.settrace; 3.12+ is faster: make demo PYTHON=python3.12)";; esac
	@cd examples && rm -rf .hypothesis && ../$(BIN)/hypofuzz-nb fuzz tests -x --max-time $(DEMO_SECONDS) --no-dashboard; \
	  rc=$$?; \
	  if [ $$rc -eq 0 ]; then \
	    echo; echo "The planted bug (examples/tests/packets.py) was NOT found within $(DEMO_SECONDS) s on Python $(PYVER)."; \
	    echo "That is not the point of the demo: try again with more time, e.g. make demo DEMO_SECONDS=300"; \
	    exit 1; fi; \
	  [ $$rc -le 1 ] || exit $$rc
	@echo; echo "== plain pytest replays what the fuzzer found (a failure here is the point) =="
	@cd examples && ../$(BIN)/python -m pytest tests -q -p no:cacheprovider; \
	  rc=$$?; \
	  if [ $$rc -eq 0 ]; then echo "pytest passed: it did not replay the saved failure, which is a bug"; exit 1; fi; \
	  [ $$rc -le 1 ] || exit $$rc
	@echo; echo "== what the database holds =="
	@cd examples && ../$(BIN)/hypofuzz-nb fuzz tests --dashboard-only; rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo; echo "The fuzzer found the planted bug, saved it shrunk, and plain pytest failed on it."

system-packages:
	@sh scripts/system-packages

test: $(STAMP) system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	  exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-* .hypothesis examples/.hypothesis
