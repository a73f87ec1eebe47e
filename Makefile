# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The example third-party plugin, pip-installed like any plugin (not editable) so that the gateway
# finds it only through its entry point.
EXAMPLE := examples/dropship-example-feed
EXAMPLE_FILES := $(shell find $(EXAMPLE) -path '*/build' -prune -o -type f \( -name '*.py' -o -name '*.toml' \) -print)

.PHONY: demo test lint format fuzz bench bench-quick bench-kpis bench-adapters bench-hostile clean

$(STAMP): pyproject.toml $(EXAMPLE_FILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --force-reinstall ./$(EXAMPLE)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) run.py demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy gateway $(EXAMPLE)/dropship_example_feed

test: lint
	$(VENV)/bin/pytest

# The longer schemathesis run over docs/openapi.yaml against a real gateway (issue 6): many more
# examples than `make test` makes, and a new seed each time (printed; FUZZ_SEED=N repeats a run).
fuzz: $(STAMP)
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
		$(VENV)/bin/pytest tests/test_fuzz_api.py -s -p no:cacheprovider -o timeout=3600

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Not a test: prints figures (docs/performance.md). The full run takes about 10 minutes (the first
# also builds a store of a million orders, cached in benchmarks/.cache); bench-quick about one.
bench: $(STAMP)
	$(PY) -m benchmarks
	$(PY) -m benchmarks.access --quick

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick

# KPI query time with a million orders (the generated store is kept in build/).
bench-kpis: $(STAMP)
	$(PY) -m benchmarks.kpis

bench-adapters: $(STAMP)
	$(PY) -m benchmarks.supplier_adapters

# Does a 4 MB junk batch stall /healthz, single-order intake or the MQTT link? (issue 6)
bench-hostile: $(STAMP)
	$(PY) -m benchmarks.hostile_load

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
