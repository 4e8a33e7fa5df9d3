# Each target builds its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/train_face_detector.py --toy --out demo_output --batch-size 8 --epochs 6

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_throughput.py

clean:
	rm -rf $(VENV) build demo_output
