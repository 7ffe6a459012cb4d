# The two commands of the README:
#   make demo   runs the example DAG against the embedded AEP emulator and prints the new connection id
#   make test   runs the whole test suite on Airflow 3.3.2, then on Airflow 2.11.2
AIRFLOW3 ?= 3.3.2
AIRFLOW2 ?= 2.11.2
AF3 := .venv/af3
AF2 := .venv/af2
PYTEST_ARGS ?=

.PHONY: demo test test-af3 test-af2 lint typecheck bench venvs deployment-deps

$(AF3)/.aep-installed: pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh $(AF3) $(AIRFLOW3) test,lint,deployment

$(AF2)/.aep-installed: pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh $(AF2) $(AIRFLOW2) test

venvs: $(AF3)/.aep-installed $(AF2)/.aep-installed

demo: $(AF3)/.aep-installed
	$(AF3)/bin/python scripts/run_example_dag.py

test: test-af3 test-af2

test-af3: $(AF3)/.aep-installed
	$(AF3)/bin/python -m pytest $(PYTEST_ARGS)

test-af2: $(AF2)/.aep-installed
	$(AF2)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(AF3)/.aep-installed
	$(AF3)/bin/ruff check .
	$(AF3)/bin/ruff format --check .

typecheck: $(AF3)/.aep-installed
	$(AF3)/bin/mypy

deployment-deps:
	scripts/deployment/install_system_deps.sh

bench: $(AF3)/.aep-installed
	$(AF3)/bin/python -m benchmarks
