# Two commands: `make run` and `make test`. Both build .venv from nothing (Python >= 3.12).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Mesa 3.5 needs Python >= 3.12; this machine's python3 is 3.11, so look for 3.12/3.13
# on PATH first, then inside pyenv (whose shims fail without PYENV_VERSION).
PYTHON312 ?= $(shell for p in python3.12 python3.13; do \
	  c=$$(command -v $$p 2>/dev/null) && [[ $$c != *shims* ]] && echo $$c && exit; done; \
	  r=$$(pyenv root 2>/dev/null) && ls -d $$r/versions/3.1[23]*/bin/python3 2>/dev/null | head -1)

.PHONY: run test lint bench bench-quick figures validate hedge-study demo clean
$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "need Python >= 3.12 (python3.12 on PATH or via pyenv)"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	$(PY) -m experiments run shock

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m experiments.bench

bench-quick: $(VENV)/.installed
	$(PY) -m experiments.bench --quick

figures: $(VENV)/.installed
	$(PY) -m experiments report
	$(PY) -m experiments.readme README.md
	for f in docs/*.md; do $(PY) -m experiments.readme $$f --root . || exit 1; done

validate: $(VENV)/.installed
	$(PY) -m experiments validate
	$(PY) -m experiments.readme docs/validation.md --root .
	$(PY) -m pytest -q -m study tests/test_studies.py

hedge-study: $(VENV)/.installed
	$(PY) -m experiments.hedge_study
	$(PY) -m experiments.readme docs/results.md --root .

demo: $(VENV)/.installed
	$(PY) -m experiments demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV)
