# ebs-gens — every command an operator or CI needs. `make test` sets everything up on a fresh
# machine and runs every test suite the project has.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Keep the build cache between runs and clones: a clean build of the AWS SDK crates takes
# about ten minutes on two cores.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ebs-gens/target
export CARGO_TERM_COLOR ?= never

.PHONY: help test setup lint fmt test-rust bench efficiency

help:
	@echo "make test    - set up and run every test suite (what CI runs)"
	@echo "make lint    - cargo fmt --check and clippy -D warnings"
	@echo "make bench   - criterion benchmark of the planner (1,000,000 snapshots)"
	@echo "make efficiency - API calls per operation vs the lower bound and the 2017 recipe"
	@echo "make fmt     - format the Rust code"

test: setup lint test-rust efficiency

# Project venv with the pinned emulator and tools (moto server, cargo-lambda, cfn-lint).
setup:
	bash scripts/venv.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test --workspace --locked

fmt:
	cargo fmt --all

bench:
	cargo bench --workspace --locked --bench plan

efficiency:
	cargo run --quiet --locked --example efficiency
