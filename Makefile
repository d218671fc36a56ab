# switchyard.bluegreen — every entry point sets itself up on a fresh Debian/Ubuntu
# machine (as root): system packages, a Python venv, the collection install path
# and the local container images. See README.md and docs/development.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

REPO := $(CURDIR)
BUILD := $(REPO)/build
VENV := $(BUILD)/venv
PYTHON ?= python3
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/switchyard/bluegreen

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help system-deps venv collection images setup test demo demo-down bench bench-quick \
        lint sanity unit integration faults fleet molecule molecule-all build clean

help:
	@echo "make demo       full blue-green cycle in a local podman sandbox"
	@echo "make demo-down  remove the demo sandbox"
	@echo "make test       every test layer; ends with 'N passed, N failed'"
	@echo "make bench      zero-downtime benchmark (writes docs/benchmarks.md)"
	@echo "make faults     fault-injection suite at full counts (docs/reliability.md)"
	@echo "make fleet      ten LBs over SSH: failures and 30 cancelled switches per signal (docs/reliability.md)"
	@echo "make lint | sanity | unit | integration | molecule | build"

system-deps:
	@bash scripts/system-deps.sh

$(VENV)/.installed: requirements.txt requirements-test.txt | system-deps
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements-test.txt
	touch $@

venv: system-deps $(VENV)/.installed

collection:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(REPO) $(COLLECTION_LINK)

images: system-deps
	bash scripts/container-host.sh

setup: venv collection images

test: setup
	$(VENV)/bin/python scripts/test.py

demo: setup
	bash scripts/demo.sh

demo-down: venv collection
	bash scripts/demo.sh down

bench: venv collection
	bash bench/run.sh

bench-quick: venv collection
	bash bench/run.sh --quick

lint: venv collection
	$(VENV)/bin/python scripts/test.py ruff ansible-lint

sanity: venv collection
	$(VENV)/bin/python scripts/test.py sanity

unit: venv collection
	$(VENV)/bin/python scripts/test.py unit

integration: venv collection
	$(VENV)/bin/python scripts/test.py integration

# The fault-injection suite at full counts (make test runs it at reduced counts).
faults: venv collection
	SWITCHYARD_FAULT_FULL=1 $(VENV)/bin/python scripts/test.py faults; rc=$$?; \
	$(VENV)/bin/python scripts/faults_report.py; exit $$rc

# The fleet suite at full counts: ten LBs over SSH, 30 cancels per signal (make test runs 1 per signal).
fleet: setup
	SWITCHYARD_FLEET_CANCELS=30 $(VENV)/bin/python scripts/test.py fleet; rc=$$?; \
	$(VENV)/bin/python scripts/faults_report.py; exit $$rc

molecule: setup
	$(VENV)/bin/python scripts/test.py molecule

# Every scenario, including those not yet in make test (see scripts/test.py).
molecule-all: setup
	$(VENV)/bin/python scripts/test.py molecule-all

build: venv collection
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(BUILD) $(REPO)

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
