# Every target sets itself up: a fresh machine needs only python3 (3.11+) and make.
VENV ?= .venv
# pytest-xdist workers for `make test` (1 runs the suite in one process)
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: install demo test reliability lint bench bench-delivery bench-scale-out bench-ingress bench-burst bench-sync bench-dunning bench-report stop-server clean

$(BIN)/memberflow: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]" --config-settings editable_mode=compat
	touch $@

install: $(BIN)/memberflow

demo: install  ## a demo business, 30 simulated days of reminders, under a local Prefect server
	$(BIN)/memberflow demo

test: install  ## lint, then the whole suite (also on PostgreSQL when MEMBERFLOW_TEST_DATABASE_URL is set)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/memberflow templates lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

reliability: install  ## the fault suite's full variants (20 trials each); prints the figures for docs/reliability.md
	MEMBERFLOW_TRIALS=20 $(BIN)/pytest tests/reliability

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

bench: install  ## benchmarks: pipeline vs a plain-Python loop, printed as a table
	$(BIN)/python -m bench.reminders

bench-delivery: install  ## 10,000 reminders into receivers answering in 0, 50, 200 ms, and SMTP at 100 ms
	$(BIN)/python -m bench.delivery

bench-scale-out: install  ## the docs/scaling.md rehearsal: Prefect on PostgreSQL, 1 vs 2 workers, Dask
	$(BIN)/python -m bench.scale_out

bench-ingress: install  ## 30 s of signed Stripe webhooks: the ingress vs a plain receiver
	$(BIN)/python -m bench.ingress

bench-sync: install  ## memberflow sync stripe over 2,000 / 20,000 / 100,000 customers (a fake answering pages instantly) vs a plain loop
	$(BIN)/python -m bench.sync

bench-burst: install  ## 500 failed payments + 500 cancellations at once: flow runs, time to the last message, worker CPU
	$(BIN)/python -m bench.burst --postgresql

bench-report: install  ## the retention report over 1,000,000 subscriptions and a year, SQLite and PostgreSQL
	$(BIN)/python -m bench.report

bench-dunning: install  ## 20,000 open dunning cases in one run: the flow vs a plain loop
	$(BIN)/python -m bench.dunning

stop-server:
	$(BIN)/memberflow server stop

clean:
	rm -rf $(VENV) outbox memberflow.db memberflow.db-* .prefect-server.*
