# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= ./lancedb

.PHONY: install browser demo test test-fast eval bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned and by pip: pip finds the CPU build where the machine keeps it, and
	# anything unpinned would fetch a CUDA build. uv then sees torch installed and keeps it.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# The rest with uv (parallel downloads and installs; much faster than pip), compiled to
	# bytecode as pip does: uv skips that by default, and where PYTHONDONTWRITEBYTECODE is set
	# every process would then compile torch and transformers from source (the suite ran 2x
	# slower). Plain pip where uv cannot be had.
	if $(BIN)/python -m pip install --quiet uv; then \
		$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'; \
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

test: install browser
	$(BIN)/python -m pytest

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
