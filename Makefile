# Each target builds its own virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test test-backends lint bench docs fuzz clean

# pip byte-compiles what it installs: --no-compile saved a minute of install but made the suite's
# subprocess tests 2-3x slower where no bytecode is written back (multiprocessing starts children with -B).
PIP := pip install --quiet

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m $(PIP) --upgrade pip
	$(PY) -m $(PIP) -e ".[test,bench]"
	touch $(STAMP)

# Keras' JAX and PyTorch backends, each in a venv of its own WITHOUT TensorFlow: the package's own
# dependencies, the test-core extra and the backend; make test runs the backend-marked fit tests there.
# torch==2.13.0 is the CPU wheel pip finds in this machine kind's local wheel folder (192 MB); on a
# machine without it, PyPI's torch brings about 3 GB of CUDA libraries (README, Install).
BACKENDS      := jax torch
BACKEND_PIP_jax   ?= jax[cpu]
BACKEND_PIP_torch ?= torch==2.13.0
BACKEND_TESTS := tests/test_backends.py tests/test_read_ahead_fit.py

.venv-%/.installed: setup.cfg pyproject.toml
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m $(PIP) -e ".[test-core]" "$(BACKEND_PIP_$*)"
	touch $@

demo: $(STAMP)
	$(PY) examples/train_face_detector.py --toy --out demo_output

# The three venvs install side by side (pip waits on files more than on the CPU); then the linter, the
# main suite, and the backends' fit tests. The main suite runs in two pytest-xdist workers, a test file
# to each at a time: most of its time is subprocesses starting and waiting (2 cores: 182 s against 348 s).
PYTEST_WORKERS ?= 2

test:
	$(MAKE) --no-print-directory -j3 $(STAMP) $(BACKENDS:%=.venv-%/.installed)
	$(PY) -m ruff check seqloaders tests benchmarks examples
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile
	$(MAKE) --no-print-directory test-backends

lint: $(STAMP)
	$(PY) -m ruff check seqloaders tests benchmarks examples

# The model.fit tests again under each other backend, one pytest process each (about 15 s apiece).
test-backends: $(BACKENDS:%=.venv-%/.installed)
	set -e; for b in $(BACKENDS); do \
		echo "KERAS_BACKEND=$$b (.venv-$$b, no TensorFlow):"; \
		KERAS_BACKEND=$$b SEQLOADERS_EXPECT_NO_TENSORFLOW=1 .venv-$$b/bin/python -m pytest -q -m backend $(BACKEND_TESTS); \
	done

bench: $(STAMP)
	$(PY) benchmarks/bench_throughput.py
	$(PY) benchmarks/bench_parse.py --results benchmarks/PARSE.md
	$(PY) benchmarks/bench_parse_folders.py
	$(PY) benchmarks/bench_yolo.py

# docs/*.png from the commands README.md shows, each run in a temporary folder (tests/test_readme.py
# checks that the committed images are what those commands draw).
docs: $(STAMP)
	$(PY) tests/readmeblocks.py --write-docs

# The long reliability campaign: every reader fuzzed with FUZZ_EXAMPLES cases per format and strategy,
# the broken-image matrix, the nothing-changed and fault tests; RELIABILITY.md is generated from the log.
FUZZ_EXAMPLES ?= 10000
FUZZ_SEED     ?= $(shell date +%s)
FUZZ_LOG      ?= build/reliability-log.jsonl
FUZZ_JUNIT    ?= build/reliability-junit.xml

fuzz: $(STAMP)
	mkdir -p $(dir $(FUZZ_LOG)) $(dir $(FUZZ_JUNIT)) && rm -f $(FUZZ_LOG) $(FUZZ_JUNIT)
	start=$$(date +%s); \
	SEQLOADERS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SEQLOADERS_RELIABILITY_LOG=$(abspath $(FUZZ_LOG)) \
		$(PY) -m pytest -q -m "fuzz or fault" -p no:cacheprovider --hypothesis-seed=$(FUZZ_SEED) \
		--junitxml=$(FUZZ_JUNIT); \
	status=$$?; \
	$(PY) tests/reliability.py $(FUZZ_LOG) --out RELIABILITY.md --seed $(FUZZ_SEED) --examples $(FUZZ_EXAMPLES) \
		--profile $$( [ $(FUZZ_EXAMPLES) -gt 1000 ] && echo seqloaders-long || echo seqloaders-short ) \
		--seconds $$(( $$(date +%s) - start )) --status $$status --junit $(FUZZ_JUNIT) \
		--command "make fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED)"; \
	exit $$status

clean:
	rm -rf $(VENV) $(BACKENDS:%=.venv-%) build demo_output
