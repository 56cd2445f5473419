# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup demo test lint bench

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned, then everything else under the same constraint so nothing can upgrade it.
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,serve,data]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m torch_estimator.cli.main demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt scikit-learn
	$(PY) benchmarks/estimator_bench.py
