# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= ./lancedb

.PHONY: install browser demo test test-fast eval bench lint clean

# uv does not read pip's settings: it looks where pip finds wheels on this machine's disk too
# (here the CPU build of torch; pyproject pins torch==2.13.0, so nothing pulls a CUDA build).
FIND_LINKS := $(strip $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_FIND_LINKS := $(foreach link,$(sort $(FIND_LINKS)),$(if $(or $(findstring ://,$(link)),$(wildcard $(link))),--find-links $(link)))

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# Everything in one uv step: parallel downloads, installs and bytecode compiling (a fresh venv:
	# 52 s with pip for torch then uv for the rest; 39 s in one step). Compiled as pip does: uv skips
	# that by default, and where PYTHONDONTWRITEBYTECODE is set every process would then compile
	# torch and transformers from source (the suite ran 2x slower). Plain pip where uv cannot be had.
	if $(BIN)/python -m pip install --quiet uv; then \
		$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode $(UV_FIND_LINKS) \
			-e '.[dev]'; \
	else $(BIN)/python -m pip install --quiet -e '.[dev]'; fi
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/embedfleet embed examples/sample_corpus.jsonl --table demo --db $(DB) --mode overwrite
	$(BIN)/python -m jobs.demo demo "a storm on a giant planet" --db $(DB)

# The browser test drives Debian's Chromium; install it with apt where we can (root), else
# that test skips and prints why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } \
			>/dev/null || echo "apt could not install chromium: the browser test will be skipped"; \
	else echo "chromium missing and not root with apt: the browser test will be skipped"; fi

# The suite in two parallel workers (pytest-xdist): whole test files to a worker, each worker
# with its own Ray cluster (tests/conftest.py), in conftest's order: the long files first, so
# both workers end together (xdist's own order, files with the most tests first, left the long
# ones to the end: 475 s against 434 s). Then, alone, the tests that start a multi-node cluster
# of their own (only their files collected): run beside the others, they cost more than they
# saved (541 s against 434 + 83 s). TEST_WORKERS=1 runs everything in one process.
# The venv and the browser install side by side: one waits on the package index, one on apt.
TEST_WORKERS ?= 2
RESTARTING_RAY := $(shell grep -rl --include='test_*.py' 'mark.restarts_ray' tests)
test:
	$(MAKE) --no-print-directory -j2 install browser
	# Bytecode for this project's modules: where PYTHONDONTWRITEBYTECODE is set, each of the
	# suite's few hundred processes (Ray workers, drivers) would compile them from source again.
	$(BIN)/python -m compileall -q jobs actors storage tests
ifeq ($(TEST_WORKERS),1)
	$(BIN)/python -m pytest
else
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		-m "not restarts_ray"; parallel=$$?; \
	$(BIN)/python -m pytest -m restarts_ray $(RESTARTING_RAY); alone=$$?; \
	[ $$parallel -eq 0 ] && [ $$alone -eq 0 ]
endif

# The pure-logic tests, in well under a minute: tests/conftest.py marks every test that starts
# Ray or loads a model `heavy`, and this leaves those out.
test-fast: install
	$(BIN)/python -m pytest tests/unit -m "not heavy"

# Published scores through the pipeline (STS-B, SciFact; every backend and dim) -> docs/EVAL.md.
# SciFact's 5,183 documents take minutes per backend on a small CPU machine.
eval: install
	$(BIN)/python bench/eval_table.py

# Throughput vs plain encode, pipeline overhead, query latency, UMAP -> docs/BENCHMARKS.md.
# Run it on a quiet machine: other work running at the same time slows every figure.
bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(DB) .pytest_cache
