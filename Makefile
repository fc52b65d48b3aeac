# onecount — the commands a newcomer needs. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help demo test bench build infra-check moto fmt lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## a local flash sale: onecount against 15-minute sync and FIFO pushes; report + chart in target/demo
	scripts/demo.sh

test: ## set up local AWS (moto) and run every test; works on a fresh clone
	scripts/test.sh

bench: ## ledger, order-path, push-path, drift-check and discovery benchmarks against moto; prints numbers (see docs/benchmarks.md)
	scripts/moto.sh setup
	scripts/moto.sh run cargo run --locked -q -p onecount-tests --example ledger_bench
	scripts/moto.sh run cargo run --locked -q -p onecount-tests --example ingest_bench
	scripts/moto.sh run cargo run --locked -q -p onecount-tests --example push_bench
	scripts/moto.sh run cargo run --locked -q -p onecount-tests --example drift_bench
	scripts/moto.sh run cargo run --locked -q -p onecount-tests --example discover_bench
	cargo run --release --locked -q -p onecount-cli -- bench flash-sale --quick --out target/bench

build: ## arm64 Lambda bootstraps for every function (cargo-lambda; what sam build makes)
	scripts/build.sh

infra-check: ## sam validate --lint, cfn-lint, checkov, and the template against the code
	scripts/infra_check.sh

moto: ## start moto for local work; prints the AWS_ENDPOINT_URL to export
	@scripts/moto.sh start

fmt: ## format the code
	cargo fmt --all

lint: ## rustfmt check, clippy, and no production function over 80 lines or 5 levels deep
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	python3 scripts/fn_shape.py .

clean: ## stop moto and remove build output
	-scripts/moto.sh stop
	cargo clean
