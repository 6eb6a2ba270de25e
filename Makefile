# The two set-up commands. Each creates .venv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# An editable install leaves engine/ uncompiled, and where PYTHONDONTWRITEBYTECODE is
# set every command would recompile it (~50 ms): compile it once, as pip does for wheels.
# the demo writes the HTML report too: it needs the report extra (matplotlib)
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[report]'
	$(BIN)/python -m compileall -q engine
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q engine
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/soar demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check engine tests bench
	$(BIN)/ruff format --check engine tests bench
	$(BIN)/mypy --strict engine

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
