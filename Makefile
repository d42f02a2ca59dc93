# The README's two commands: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Two pytest-xdist workers (one per core on the 2-core machines here), each test file on one worker
# (its module fixtures built once); PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist loadfile --durations=15
# Upstream launch/launch_ros/ros2cli as wheels: test tools for `ros2 launch` in the suite, installed
# only where this directory exists (CI has it; users have these tools from their ROS install).
ROS2_CLI_WHEELS ?= ../shared/wheels/ros2-cli
# In a sourced ROS 2 environment use its rclpy (system site-packages) and never install
# the ROS 2 pip wheels on top of it.
ifeq ($(strip $(ROS_DISTRO)),)
EXTRAS := ros-wheels,dev
VENV_FLAGS :=
else
EXTRAS := dev
VENV_FLAGS := --system-site-packages
endif

.PHONY: setup demo test test-all lint bench clean

$(STAMP): setup.py setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	if [ -z "$(ROS_DISTRO)" ] && [ -d "$(ROS2_CLI_WHEELS)" ]; then \
	  $(PY) -m pip install -q --no-deps $(ROS2_CLI_WHEELS)/*.whl; fi
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m disdepth_core.cli demo --out out/demo

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

test-all: lint
	OMP_NUM_THREADS=1 $(PY) -m pytest --runslow $(PYTEST_ARGS)

clean:
	rm -rf out build install log .pytest_cache
