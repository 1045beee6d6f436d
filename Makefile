# Two entry points: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test test-image bench clean results mutants

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/adaptrade demo

# the report tests drive a real headless chromium: installed here when missing and possible
browser:
	@bash scripts/setup_browser.sh

# property tests run their slow hypothesis profile (more examples) under CI=true; tests/profiles.py
HYPOTHESIS_PROFILE ?= $(if $(filter true,$(CI)),slow,default)
export HYPOTHESIS_PROFILE

# the suite on two worker processes (pytest-xdist): every test uses its own ports, databases and folders;
# --dist loadgroup keeps the docker image test (collected first, tests/conftest.py) on one worker
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=25

# the image build-and-run test (docker.io + mmdebstrap, installed when root; minutes): not part of make test
test-image: $(STAMP)
	RUN_DOCKER_TESTS=1 $(BIN)/python -m pytest -q -s tests/deploy/test_image.py

# every benchmark; each prints its table and rewrites its own section of docs/performance.md
bench: $(STAMP)
	$(BIN)/python benchmarks/synthetic_gen.py
	$(BIN)/python benchmarks/load_archive.py
	$(BIN)/python benchmarks/backtest_peers.py
	$(BIN)/python benchmarks/cli_end_to_end.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/portfolio.py
	$(BIN)/python benchmarks/research.py
	$(BIN)/python benchmarks/paper_latency.py

# docs/results.md from a clean checkout (real data in ../shared/data or ADAPTRADE_DATA_DIR); see docs/research.md
results: $(STAMP)
	$(BIN)/adaptrade experiment phase7 --out out/results --write-docs docs/results.md

# planted bugs (look-ahead, fills, costs, statistics, risk) against the tests that should catch them;
# slow (each mutant recompiles the numba kernels), so not part of `make test`; results in docs/testing.md
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py

clean:
	rm -rf $(VENV) .adaptrade_cache .pytest_cache .hypothesis
