# Two commands: `make demo` and `make test`, and `make lint` before a commit. Each bootstraps
# .venv from scratch when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo demo-healing demo-autoscaling lint test test-fast test-peers heat-functional bench clean heat-reference record-heat differential test-heat test-soak

$(BIN)/.hearth-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.hearth-installed
	$(BIN)/python examples/demo.py

# Fleets (docs/fleets.md): a pool that replaces a member whose agent died, and a group that grows
# and shrinks on a metric its agents report; each on a throw-away embedded server.
demo-healing: $(BIN)/.hearth-installed
	$(BIN)/python examples/fleets.py healing

demo-autoscaling: $(BIN)/.hearth-installed
	$(BIN)/python examples/fleets.py autoscaling

# ruff (rules in pyproject.toml [tool.ruff]), mypy ([tool.mypy]: agent/ strict) and the
# import-rule test (DESIGN.md's one-way dependencies, read from the AST): a few seconds, no
# server, so .ci/run runs it before the suite.
lint: $(BIN)/.hearth-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider --noconftest tests/unit/test_import_rules.py

# Three workers on this 2-core machine: most tests wait on real servers, agents and hooks rather
# than the CPU (two finished in 19.7 min once the multi-replica suite came); four were no faster
# with the fleets' suites (18.9 min against 20.4) and pushed the differential module's shared
# fixture past its timeout; --dist loadscope keeps each module (and its shared server) on one worker,
# and --no-loadscope-reorder keeps the collection's order, which starts the longest modules
# first (tests/conftest.py LONG_FIRST) rather than last.
PYTEST_WORKERS ?= 3
XDIST = -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

test: $(BIN)/.hearth-installed
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST)

test-fast: $(BIN)/.hearth-installed
	$(BIN)/pytest -q -p no:cacheprovider $(XDIST) -m "not e2e and not slow"

# Only the tests that drive Hearth with real Heat-side releases (os-collect-config, heat-agents,
# heat-cfntools, heatclient, openstackclient), each fetched from PyPI into its own venv.
test-peers: $(BIN)/.hearth-installed
	$(BIN)/pytest -q -p no:cacheprovider -m peers

# Heat's own functional tests (openstack-heat 27.0.1) against a real Hearth server, signing in
# at its /identity/v3: every yardstick test (what real Heat passes here), one line each, a
# summary, and results in heat-functional.json. It fails when a test of expected-pass.txt
# does not pass. HEARTH_HEAT_FUNCTIONAL_VENV reuses a venv holding the pinned test releases;
# HEAT_FUNCTIONAL_ARGS adds run.py options (--pattern REGEX, --jobs N).
heat-functional: $(BIN)/.hearth-installed
	$(BIN)/python tests/heat_functional/run.py --only tests/heat_functional/yardstick.txt \
		--expect tests/heat_functional/expected-pass.txt --json heat-functional.json $(HEAT_FUNCTIONAL_ARGS)

bench: $(BIN)/.hearth-installed
	$(BIN)/python bench/propagation.py
	$(BIN)/python bench/stack_create.py

clean:
	rm -rf $(VENV) build *.egg-info

# Real Heat (PyPI openstack-heat, pinned) on 127.0.0.1:18004 without Keystone, in the foreground.
heat-reference: $(BIN)/.hearth-installed
	$(BIN)/python -m tests.heat_reference.reference run --port 18004

# Re-record every differential case from real Heat (starts and stops its own reference).
record-heat: $(BIN)/.hearth-installed
	$(BIN)/python -m tests.differential.record

# The differential cases live against real Heat: does Heat still answer as recorded?
test-heat: $(BIN)/.hearth-installed
	$(BIN)/pytest -q -p no:cacheprovider -m heat

# The multi-replica kill -9 rounds, >= 10 per phase (HEARTH_REPLICA_ROUNDS): tens of minutes.
test-soak: $(BIN)/.hearth-installed
	$(BIN)/pytest -q -p no:cacheprovider -m soak

# Compare Hearth with the recordings, case by case, with diffs.
differential: $(BIN)/.hearth-installed
	$(BIN)/python -m tests.differential.compare -v
