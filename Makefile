# AgentNexus task runner. Every target sets up what it needs first (scripts/setup.sh is
# idempotent and quick when nothing changed).
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN := node_modules/.bin
# CI runs the heavy Foundry profile (10,000 fuzz runs, 1,000 invariant runs at depth 20);
# locally `make test` uses the default profile unless FOUNDRY_PROFILE is set.
FOUNDRY_PROFILE ?= $(if $(CI),ci,default)
export FOUNDRY_PROFILE

.PHONY: help setup build contracts test test-contracts test-rust gas bindings dev lint slither clean

help:
	@echo "make setup    install everything (apt packages, npm toolchain, Rust dependencies)"
	@echo "make dev      run the whole local stack: anvil, contracts, catalog, PostgreSQL, indexer, GraphQL, relayer, bundler"
	@echo "make test     run every test (Solidity, Rust, bindings freshness, gas bars)"
	@echo "make gas      print gas.<operation>=<gas> for each marketplace operation"
	@echo "make bindings refresh the committed ABIs the Rust bindings are generated from"
	@echo "make lint     formatting, clippy and slither (static analysis of contracts/, triaged in slither.triage.toml)"
	@echo "make agents   build the catalog's agent images (agents-hostile: the containment test images)"
	@echo "make bench-indexer  indexer backfill events/s and live lag"
	@echo "make bench-graphql  API latency at 500 req/s open loop, then max req/s"
	@echo "make bench-relayer  relayer container overhead, request-to-settled latency, throughput"

setup:
	@scripts/setup.sh

contracts: setup
	$(BIN)/forge build

build: contracts
	cargo build --workspace --all-targets --locked

test: build test-contracts slither test-rust gas

test-contracts: contracts
	$(BIN)/forge test

# The bindings freshness test reads out/ from `forge build` above.
test-rust: build
	cargo test --workspace --locked

# Marketplace operations (testkit's gas-report, which fails when a bar is crossed), then the
# ERC-4337 flows through a real bundler (Alto): gas.userop_purchase_batched and
# gas.userop_request_session_key, the gas the EntryPoint charged the paymaster.
gas: build
	cargo run --quiet --locked --bin gas-report
	cargo run --quiet --locked --example userop_gas

bindings: contracts
	UPDATE_BINDINGS=1 cargo test --locked -p nexus-bindings --test abi_is_fresh

dev:
	@scripts/dev.sh

lint: setup
	$(BIN)/forge fmt --check
	scripts/slither.sh
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Slither over contracts/ alone (also part of `make lint`): installs its pinned venv on first use,
# fails on any High or Medium finding not accepted in slither.triage.toml (scripts/slither.sh).
slither: setup
	@scripts/slither.sh

clean:
	rm -rf out cache broadcast target/devnets

# Agent images (scripts/agents.sh): static binaries in FROM scratch images, ids in
# target/agents/images.json; agents-hostile builds the relayer's containment test images.
.PHONY: agents agents-hostile
agents: setup
	@scripts/agents.sh

agents-hostile: setup
	@scripts/agents.sh --hostile

# GraphQL API (graphql/, nexus-graphql): serve it against the local stack's database, or measure
# it (seeds 10k agents and 100k executions into a private PostgreSQL, 500 req/s open loop over
# 100 connections for 30 s, then unthrottled; prints graphql.p50_ms ... graphql.max_rps).
.PHONY: graphql bench-graphql
graphql: setup
	cargo run --locked --bin nexus -- graphql

# Indexer throughput (issue 3): builds a chain of 100k+ real events (BENCH_EVENTS), backfills it
# into a fresh PostgreSQL, then follows live blocks (BENCH_LIVE_BLOCKS). Release build: the
# numbers are the production binary's. Prints indexer.backfill_events_per_sec and
# indexer.live_lag_ms_p50/p99.
.PHONY: bench-indexer
bench-indexer: contracts
	cargo run --release --locked --example bench_indexer

bench-graphql: setup
	cargo run --release --locked -p nexus-graphql --features bench --bin bench-graphql

# Relayer latency and throughput (issue 5) over the real stack (anvil automine, PostgreSQL, the
# indexer, dockerd, the hostile `echo` image): prints relayer.container_overhead_ms_p50/_p99,
# relayer.request_to_settled_ms_p50/_p99 and relayer.throughput_per_min (concurrency 4). Dev
# profile (dependencies at opt-level 1): the time measured is Docker's, anvil's and PostgreSQL's,
# the relayer's own work per request is a few milliseconds.
.PHONY: bench-relayer
bench-relayer: contracts
	cargo run --locked --example bench_relayer
