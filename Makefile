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

.PHONY: install iac-tools run serve simulator test lint package infra-check checkov workflow-check \
	infra deploy rollback delete smoke deploy-rehearsal bench bench-outage soak fuzz clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@tools/install.sh $(PYTHON) $(VENV)
	@touch $@

install: $(VENV)/.installed

# checkov and the SAM translator in their own venv: their pins clash with the app's.
IAC_VENV ?= .venv-iac
$(IAC_VENV)/.installed: requirements-iac.txt
	test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	@echo "installing checkov and aws-sam-translator into $(IAC_VENV) (about a minute, once)"
	$(IAC_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-iac.txt
	touch $@

iac-tools: $(IAC_VENV)/.installed

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
# allowed_hosts of the bundled general.ini also becomes the API's resource policy.
DEPLOY_CONFIG_DIR ?= chalicelib/site-config
package: install
	rm -rf .run/package
	$(BIN)/python -m tools.resource_policy --config-dir $(DEPLOY_CONFIG_DIR) --out .run/resource-policy.json
	$(BIN)/python -m tools.merge_templates --stage $(STAGE) --out .run/merge-$(STAGE).json infra/*.json .run/resource-policy.json
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-west-1} $(BIN)/chalice package --stage $(STAGE) --merge-template .run/merge-$(STAGE).json .run/package >/dev/null
	$(BIN)/python -m tools.compile_package .run/package/deployment.zip

# The packaged template, checked by cfn-lint.
infra-check: package
	$(BIN)/cfn-lint .run/package/sam.json

# The packaged template's security checks; every skipped check says why in the template.
checkov: package iac-tools
	$(IAC_VENV)/bin/checkov -f .run/package/sam.json -f infra/ci/github-deploy-role.json \
		--framework cloudformation --quiet --compact --skip-download

# The GitHub workflows against GitHub's schema, and their security audit (offline).
workflow-check: install
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows/

BUCKET ?= $(ARTIFACT_BUCKET)
CFN_ROLE ?= $(CLOUDFORMATION_ROLE_ARN)
STACK_ARGS = --stage $(STAGE) --bucket $(BUCKET) $(if $(CFN_ROLE),--role-arn $(CFN_ROLE))

# The data stack of a stage (tables, queues, alarm); its outputs become the stage's
# environment in .chalice/config.json, so `chalice deploy --stage $(STAGE)` then works.
infra: install
	$(BIN)/python -m tools.deploy_stack infra $(STACK_ARGS)

# The packaged stack of a stage (make package + CloudFormation), what CI deploys.
deploy: package
	$(BIN)/python -m tools.deploy_stack deploy $(STACK_ARGS)

rollback: install
	$(BIN)/python -m tools.deploy_stack rollback $(STACK_ARGS)

delete: install
	$(BIN)/python -m tools.deploy_stack delete $(STACK_ARGS)

# A short check of any running instance: make smoke URL=https://.../api/
smoke: install
	$(BIN)/python -m tools.smoke $(URL)

# Both deploy paths against moto in server mode: create, update, delete, checked after each.
deploy-rehearsal: package iac-tools
	$(BIN)/python -m tools.rehearse --sam-python $(IAC_VENV)/bin/python

test: lint infra-check checkov workflow-check deploy-rehearsal
	$(BIN)/pytest

# The result on the terminal and in .run/bench/; RECORD=1 writes the tracked bench/results.md.
# schemathesis, every check, against the API (fakes behind it) and its own /openapi.json
FUZZ_EXAMPLES ?= 300
fuzz: install
	$(BIN)/python -m tools.fuzz --max-examples $(FUZZ_EXAMPLES)

bench: install
	$(BIN)/python -m bench.run $(if $(RECORD),--record)

soak: install
	$(BIN)/python -m bench.soak

# APNs down while pushes pile up in SQS (moto), then back: drain time, exactly once, expiries
bench-outage: install
	$(BIN)/python -m bench.outage

clean:
	rm -rf .run .mypy_cache .ruff_cache $(IAC_VENV)
