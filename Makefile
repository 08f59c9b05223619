# Two entry points for a physicist on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= output
SAMPLE := $(OUT)/synthetic/DoubleMuon_synthetic.root

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# torch first and pinned: the pinned version resolves to the local CPU wheel; a loose request pulls CUDA.
# constraints.txt is the exact tested set; pyproject.toml declares the compatible ranges.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,xrootd]"
	touch $@

# The embedded default: 1 M synthetic DoubleMuon-like NanoAOD events (seed 1), generated once.
$(SAMPLE): | install
	$(BIN)/dimuon-ad generate --output $(SAMPLE)

# generation -> skim -> analysis (Upsilon window, fast profile, flow seeds and toys on a local
# Dask cluster with one worker per core); prints the headline table.
demo: install $(SAMPLE)
	$(BIN)/dimuon-ad skim --output-dir $(OUT)/skim
	$(BIN)/dimuon-ad analyse --skim $(OUT)/skim --output-dir $(OUT)/analysis --fast --scheduler local

test: install
	$(BIN)/python -m pytest -q

# zuko (the reference of benchmarks.flows) comes with the bench extra
bench: install
	$(BIN)/pip install --quiet -c constraints.txt -e ".[bench]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(OUT)
