# ebs-gens — every command an operator or CI needs. `make test` sets everything up on a fresh
# machine and runs every test suite the project has.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Keep the build cache between runs and clones: a clean build of the AWS SDK crates takes
# about ten minutes on two cores.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ebs-gens/target
export CARGO_TERM_COLOR ?= never

# What each suite ran, checked against tests/minimum-tests.json (scripts/test_counts.py): a
# suite that silently runs fewer tests than it should fails the build.
COUNTS := $(CARGO_TARGET_DIR)/test-counts
NODE_COUNTS = --test-reporter=tap --test-reporter-destination=stdout --test-reporter=$(CURDIR)/scripts/count_reporter.mjs --test-reporter-destination=$(COUNTS)/$(1).json

.PHONY: help test test-cdk setup lint fmt test-rust test-asl test-statemachine test-demo bench efficiency fault-budget demo sweep-local event-local contract cost coldstart

help:
	@echo "make demo [BACKEND=rules] - run the whole system locally on an emulated fleet and print a report"
	@echo "make test    - set up and run every test suite (what CI runs)"
	@echo "make sweep-local [DRY_RUN=1] - run the sweep state machine locally against AWS_ENDPOINT_URL (or your account)"
	@echo "make event-local EVENT=file.json [DRY_RUN=1] - deliver one EBS event locally"
	@echo "make lint    - cargo fmt --check, clippy -D warnings, biome ci (JS/TS format and lint)"
	@echo "make bench   - criterion benchmark of the planner (1,000,000 snapshots)"
	@echo "make efficiency - API calls per operation vs the lower bound and the 2017 recipe"
	@echo "make fault-budget - the largest prune batch under 20 % injected faults vs the Lambda timeout"
	@echo "make cost    - what it costs to run per 1,000 volumes a month: measured locally, priced with scripts/prices.json"
	@echo "make coldstart - release build: each function's binary size and local init time (median of 20 starts)"
	@echo "make fmt     - format the Rust code (cargo fmt) and the JS/TS code (biome)"
	@echo "make contract - regenerate contract.json (names shared by Rust, ASL, CDK and the runner)"

# Rust tests last, so the run closes on cargo test's summary.
test: setup lint efficiency fault-budget test-asl test-cdk test-statemachine test-demo test-rust

# Project venv with the pinned emulator and tools (moto server, cargo-lambda, cfn-lint).
setup:
	bash scripts/venv.sh
	bash scripts/npm.sh local
	bash scripts/npm.sh cdk

# asl-validator on both definitions (the Rust test `asl` adds our own checks).
test-asl: setup
	cd local && npx --no-install asl-validator --json-path ../statemachine/snapshot-completed.asl.json --json-path ../statemachine/sweep.asl.json

# Both state machines end to end: aws-local-stepfunctions + cargo lambda watch + moto.
# The binaries are built first so cargo lambda watch starts them without compiling.
test-statemachine: setup
	cargo build --workspace --bins --locked
	mkdir -p $(COUNTS)
	node --test $(call NODE_COUNTS,statemachine) tests/statemachine/
	python3 scripts/test_counts.py node statemachine $(COUNTS)/statemachine.json

# JS/TS: biome (pinned in local/package.json, configured in biome.json) checks formatting and
# lint rules without writing; `make fmt` applies its formatting.
BIOME := local/node_modules/.bin/biome

lint:
	bash scripts/npm.sh local
	$(BIOME) ci --error-on-warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked --features ebs-gens/test-util,ebs-gens/sfn -- -D warnings
	@# Test tooling stays out of the product: no function's dependency tree enables test-util.
	@for f in functions/*/ cli/; do \
	  if cargo tree --locked -e features -p $$(sed -n "s/^name = \"\(.*\)\"/\1/p" $$f/Cargo.toml | head -1) | grep -q 'ebs-gens feature "test-util"'; then \
	    echo "$$f reaches ebs-gens/test-util (the strict fake)"; exit 1; fi; done

test-rust:
	mkdir -p $(COUNTS)
	cargo test --workspace --locked --features ebs-gens/test-util,ebs-gens/sfn 2>&1 | tee $(COUNTS)/rust.log
	python3 scripts/test_counts.py rust $(COUNTS)/rust.log

fmt:
	cargo fmt --all
	bash scripts/npm.sh local
	$(BIOME) format --write

# contract.json is generated from shared/src/contract.rs; the `contract` test fails when stale.
contract:
	EBS_GENS_UPDATE_CONTRACT=1 cargo test --workspace --locked --features ebs-gens/test-util --test contract

bench:
	cargo bench --workspace --locked --bench plan

# The core built optimised for this one run (its own cached artifact; the test build is not
# touched): the 10,000-volume cases take ~65 s instead of ~190 s on two cores.
efficiency:
	cargo run --quiet --locked --features ebs-gens/test-util --example efficiency --config 'profile.dev.package.ebs-gens.opt-level=2'

# The largest prune batch under 20 % injected faults, with production's retry and pacing
# settings, in virtual time (fails if it would not fit the Lambda timeout).
fault-budget:
	cargo run --quiet --locked --features ebs-gens/test-util --example fault_budget

demo: setup
	cargo build --workspace --bins --locked
	node scripts/local.mjs demo $(if $(BACKEND),--backend $(BACKEND))

# The demo as a test: the whole system on both backends, ending with `ebs-gens status` whose
# exit code and rows are checked (it fails on any disagreement with the emulator).
test-demo: setup
	cargo build --workspace --bins --locked
	node scripts/local.mjs demo
	node scripts/local.mjs demo --backend rules

# Cost per month per 1,000 volumes: real executions on the local stack (transitions, Lambda
# invocations and durations, log bytes) for three fleet policies, priced with scripts/prices.json.
cost: setup
	cargo build --workspace --bins --locked
	node scripts/cost.mjs

# Release binaries as deployed (the functions only, like cargo-lambda's per-function build), then
# size and spawn → first Runtime API poll for each, on 127.0.0.1.
coldstart: setup
	cargo build --release --workspace --bins --exclude ebs-gens-cli --locked
	node scripts/coldstart.mjs

sweep-local: setup
	cargo build --workspace --bins --locked
	node scripts/local.mjs sweep $(if $(DRY_RUN),--dry-run)

event-local: setup
	cargo build --workspace --bins --locked
	node scripts/local.mjs event $(EVENT) $(if $(DRY_RUN),--dry-run)

# CDK, offline: type check, template assertions (with cdk-nag AwsSolutions), a real `cdk synth`
# with bundling skipped, cfn-lint on the template (W3005: CDK's redundant DependsOn), and checkov
# (in its own venv: its pins would downgrade moto's boto3), which must find nothing the template
# does not acknowledge with a reason (Metadata checkov.skip). Offline: no version check, no
# Bridgecrew download or mapping.
test-cdk: setup
	bash scripts/venv.sh .venv-checkov scripts/requirements-checkov.txt
	cd cdk && npx --no-install tsc -p .
	mkdir -p $(COUNTS)
	cd cdk && npx --no-install tsx --test $(call NODE_COUNTS,cdk) test/*.test.ts
	python3 scripts/test_counts.py node cdk $(COUNTS)/cdk.json
	cd cdk && EBS_GENS_SKIP_BUNDLING=1 CDK_DISABLE_CLI_TELEMETRY=true npx --no-install cdk synth --no-notices -q
	.venv/bin/cfn-lint --ignore-checks W3005 -- cdk/cdk.out/*.template.json
	BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE .venv-checkov/bin/checkov --framework cloudformation --quiet --compact --skip-download -f cdk/cdk.out/*.template.json
