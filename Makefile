# Two entry points for a physicist on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= output
SAMPLE := $(OUT)/synthetic/DoubleMuon_synthetic.root

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# torch first and pinned: the pinned version resolves to the local CPU wheel; a loose request pulls CUDA.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The embedded default: 1 M synthetic DoubleMuon-like NanoAOD events (seed 1), generated once.
$(SAMPLE): | install
	$(BIN)/python -m toymc --output $(SAMPLE)

# generation -> skim -> analysis (Upsilon window, fast profile, flow seeds and toys on a local
# Dask cluster with one worker per core); prints the headline table.
demo: install $(SAMPLE)
	$(BIN)/python run_skim.py --output-dir $(OUT)/skim
	$(BIN)/python run_analysis.py --skim $(OUT)/skim --output-dir $(OUT)/analysis --fast --scheduler local

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(OUT)
