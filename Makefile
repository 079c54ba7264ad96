# Two entry points: `make run` and `make test`. Both create a local virtual
# environment on first use. Override TORCH to pick another PyTorch build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/accord: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(BIN)/accord
	$(BIN)/accord run $(ARGS)

test: $(BIN)/accord
	$(BIN)/python -m pytest -q $(ARGS)

bench: $(BIN)/accord
	$(BIN)/python benchmarks/linear.py $(ARGS)

clean:
	rm -rf $(VENV) accord-output
