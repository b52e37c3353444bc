# edgevision: the two commands a new machine needs are `make quickstart` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: install install-dev install-extras install-zoo install-peer install-edge quickstart test test-slow test-all test-extras test-zoo test-edge lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The zoo (timm, torchvision architectures) lives in its own venv: PyPI's torchvision needs the torch it was built
# against (2.14.1, a CUDA build of ~5.5 GB that runs on the CPU), while the default install stays on torch 2.13.0 CPU.
ZOO_VENV := .venv-zoo
ZOO_PY   := $(ZOO_VENV)/bin/python

$(ZOO_VENV)/bin/python:
	$(PYTHON) -m venv $(ZOO_VENV)

$(ZOO_VENV)/.installed: pyproject.toml constraints-zoo.txt | $(ZOO_VENV)/bin/python
	$(ZOO_PY) -m pip install --quiet --disable-pip-version-check -c constraints-zoo.txt -e ".[zoo,dev]"
	touch $@

install-zoo: $(ZOO_VENV)/.installed  ## a second venv with torch 2.14.1 + torchvision + timm (see docs/zoo.md)

# ultralytics is the detection benchmark's yardstick (benchmarks/yolo_peer.py) and the source of `ultralytics:` model
# references (AGPL-3.0: imported only when such a reference is named; docs/design.md). Its wheel asks for opencv-python, which would shadow opencv-python-headless: it is installed without
# its dependencies, and the few it needs beyond the zoo's come pinned from constraints-zoo.txt.
PEER_DEPS := polars polars-runtime-32 psutil requests scipy pillow

$(ZOO_VENV)/.installed-peer: $(ZOO_VENV)/.installed
	$(ZOO_PY) -m pip install --quiet --disable-pip-version-check --no-deps -c constraints-zoo.txt ultralytics \
		ultralytics-thop
	$(ZOO_PY) -m pip install --quiet --disable-pip-version-check -c constraints-zoo.txt $(PEER_DEPS)
	touch $@

install-peer: $(ZOO_VENV)/.installed-peer  ## ultralytics in the zoo venv: yolo_peer.py and ultralytics: references

test-zoo: install-zoo  ## the zoo tests (timm / torchvision architectures) in the zoo venv; they skip elsewhere
	$(ZOO_PY) -m pytest -q -m zoo $(PYTEST_ARGS)

# The openvino and teachers extras' tests run in a venv of their own, so that the default venv proves the core needs
# none of them. test_unreadable.py trains with DataLoader workers after OpenVINO compiled models came and went: the
# case that crashed before edgevision kept its own signal stack (src/edgevision/deploy/sigstack.py).
EXTRAS_VENV := .venv-extras
EXTRAS_PY   := $(EXTRAS_VENV)/bin/python
EXTRAS_TESTS := tests/deploy/test_openvino.py tests/bench/test_openvino_engine.py tests/deploy/test_export_best.py \
                tests/faces/test_dlib_face.py tests/faces/test_face_new_gallery.py tests/compress/distill/test_kd_embedding.py \
                tests/deploy/test_openvino_sigstack.py tests/data/test_unreadable.py \
                tests/compress/distill/test_teacher_tflite.py tests/faces/test_blazeface.py \
                tests/deploy/test_litert_runtime.py

# mediapipe-selfie's model file ships inside mediapipe's wheel; edgevision only reads the file (LiteRT runs it), so
# the wheel goes in without its dependencies (opencv-contrib-python would shadow the headless OpenCV; jax is 1 GB).
MEDIAPIPE := mediapipe==0.10.21

$(EXTRAS_VENV)/bin/python:
	$(PYTHON) -m venv $(EXTRAS_VENV)

$(EXTRAS_VENV)/.installed: pyproject.toml constraints.txt | $(EXTRAS_VENV)/bin/python
	$(EXTRAS_PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,openvino,teachers]"
	$(EXTRAS_PY) -m pip install --quiet --disable-pip-version-check --no-deps $(MEDIAPIPE)
	touch $@

install-extras: $(EXTRAS_VENV)/.installed  ## a venv with the openvino and teachers extras (+ mediapipe's model files)

test-extras: install-extras  ## the openvino (export, engine, best) and dlib-face tests, in their own venv
	$(EXTRAS_PY) -m pytest -q -m "not slow" $(EXTRAS_TESTS) $(PYTEST_ARGS)

# The on-device extras, litert (litert-torch converts, ai-edge-litert runs; it brings jax, torchao and TensorFlow's
# converter), executorch and ncnn (pnnx converts), take about 3 GB beside torch 2.13.0 CPU, so they have a venv of their own. Its tests
# convert real models (fp32 and PT2E int8) and run them through every verb and `export --format best`.
EDGE_VENV := .venv-edge
EDGE_PY   := $(EDGE_VENV)/bin/python
EDGE_TESTS := tests/deploy/test_litert.py tests/deploy/test_litert_runtime.py tests/deploy/test_executorch.py \
              tests/deploy/test_ncnn.py tests/deploy/test_export_best.py

$(EDGE_VENV)/bin/python:
	$(PYTHON) -m venv $(EDGE_VENV)

$(EDGE_VENV)/.installed: pyproject.toml constraints.txt | $(EDGE_VENV)/bin/python
	$(EDGE_PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,litert,executorch,ncnn]"
	touch $@

install-edge: $(EDGE_VENV)/.installed  ## a venv with the litert, executorch and ncnn extras (on-device formats, engines)

test-edge: install-edge  ## the tflite / executorch / ncnn exporter and engine tests (slow ones too), in their own venv
	$(EDGE_PY) -m pytest -q $(EDGE_TESTS) $(PYTEST_ARGS)

quickstart: install  ## train → eval → profile → report on the embedded synthetic dataset
	$(VENV)/bin/edgevision quickstart --out runs/quickstart

test: install-dev  ## lint + the fast test suite (what CI runs)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install-dev  ## the slow tests (browser, long trainings); data tests skip without ../shared
	$(PY) -m pytest -q -m "slow" $(PYTEST_ARGS)

test-all: install-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(ZOO_VENV) $(EXTRAS_VENV) $(EDGE_VENV) runs .pytest_cache .ruff_cache
