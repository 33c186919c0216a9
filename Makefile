PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench profile soak clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/toolbelt demo

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check toolbelt lint_rules tests bench
	$(BIN)/ruff format --check toolbelt lint_rules tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# pyinstrument profiles of the cases whose targets are missed, into docs/profiles/.
profile: $(STAMP)
	$(BIN)/python -m bench.profile

# The long variants: 1,000 SIGKILL rounds and 20x the fuzzing examples (about an hour).
soak: $(STAMP)
	TOOLBELT_CRASH_ROUNDS=1000 TOOLBELT_SOAK=1 $(BIN)/pytest tests/test_faults.py \
		tests/test_md_property.py tests/test_stateful.py tests/test_fuzz_patch.py

clean:
	rm -rf $(VENV) workspace/.toolbelt
