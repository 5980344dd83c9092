# Two commands on a fresh machine: `make run` (try it locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8400
CONFIG_DIR ?= config
SIM_DIR ?= .run/simulator
APNS_PORT ?= 8401
FCM_PORT ?= 8402

.PHONY: install run serve simulator test lint package infra-check bench soak clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@tools/install.sh $(PYTHON) $(VENV)
	@touch $@

install: $(VENV)/.installed

# The API on 127.0.0.1:$(PORT) with the sample config, and the APNs/FCM simulator it points at.
# Logs are readable lines (LOG_FORMAT=json for CloudWatch's format); see tools/serve.py.
run: install
	@$(BIN)/python -m tools.ports PORT=$(PORT) $(APNS_PORT) $(FCM_PORT)  # config/ names 8401, 8402
	@mkdir -p $(SIM_DIR) && rm -f $(SIM_DIR)/fcm-service-account.json
	@$(BIN)/python -m fakepns.simulator --dir $(SIM_DIR) --apns-port $(APNS_PORT) --fcm-port $(FCM_PORT) & \
	sim=$$!; trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	for _ in $$(seq 50); do [ -f $(SIM_DIR)/fcm-service-account.json ] && break; sleep 0.1; done; \
	CONFIG_DIR=config DATA_DIR=.run/data LOG_FILE=.run/logs/pushserver.jsonl $(BIN)/python -m tools.serve --port $(PORT)

# The API alone, against any config directory: CONFIG_DIR=... PORT=... make serve
serve: install
	@CONFIG_DIR=$(CONFIG_DIR) $(BIN)/python -m tools.serve --port $(PORT)

simulator: install
	$(BIN)/python -m fakepns.simulator --dir $(SIM_DIR) --apns-port $(APNS_PORT) --fcm-port $(FCM_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

STAGE ?= prod

# The Lambda zip + CloudFormation in .run/package, bytecode added (see tools/compile_package.py).
# Every fragment infra/*.json is merged into one template first (tools/merge_templates.py).
package: install
	rm -rf .run/package
	$(BIN)/python -m tools.merge_templates --stage $(STAGE) --out .run/merge-$(STAGE).json infra/*.json
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-west-1} $(BIN)/chalice package --stage $(STAGE) --merge-template .run/merge-$(STAGE).json .run/package >/dev/null
	$(BIN)/python -m tools.compile_package .run/package/deployment.zip

# The packaged template, checked by cfn-lint.
infra-check: package
	$(BIN)/cfn-lint .run/package/sam.json

test: lint infra-check
	$(BIN)/pytest

# The result on the terminal and in .run/bench/; RECORD=1 writes the tracked bench/results.md.
bench: install
	$(BIN)/python -m bench.run $(if $(RECORD),--record)

soak: install
	$(BIN)/python -m bench.soak

clean:
	rm -rf .run .mypy_cache .ruff_cache
