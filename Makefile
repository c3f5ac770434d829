# Two set-up commands (README): `make demo` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

OLD_RT := .venv-tflite214
OLD_RT_STAMP := $(OLD_RT)/.installed

.PHONY: demo test bench baselines venv venv-tflite214 clean

$(STAMP): pyproject.toml scripts/install_system_deps.sh
	bash scripts/install_system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# tflite-runtime 2.14 needs NumPy 1.x: its own environment, used to check artifacts on it.
$(OLD_RT_STAMP): scripts/tflite214-requirements.txt
	$(PYTHON) -m venv $(OLD_RT)
	$(OLD_RT)/bin/python -m pip install --quiet -r scripts/tflite214-requirements.txt
	touch $(OLD_RT_STAMP)

venv-tflite214: $(OLD_RT_STAMP)

demo: $(STAMP)
	$(PY) -m train.vggsound --demo

# pyproject.toml stops the run at a crashed worker or a test stuck past its timeout; the outer
# limit ends anything else well inside CI's 90 minutes.
test: $(STAMP) $(OLD_RT_STAMP)
	timeout --kill-after=60 3600 $(PY) -m pytest -n 2 --dist loadgroup tests

bench: $(STAMP) $(OLD_RT_STAMP)
	bash scripts/bench.sh

# The paper's Table V baselines and today's peers beside B1/B0: docs/baselines.md.
baselines: $(STAMP)
	bash scripts/baselines.sh

clean:
	rm -rf $(VENV) $(OLD_RT) .pytest_cache runs/demo build/bench build/baselines
