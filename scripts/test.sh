#!/usr/bin/env bash
# Runs every test Cove has: formatting and lints, the Rust unit and integration tests
# (which drive real `cove serve` processes), and the end-to-end scenarios with the real
# AWS CLI and boto3. Needs: the Rust toolchain, python3 with boto3, pytest and awscli.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
cargo test --workspace --locked
COVE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/cove" python3 -m pytest -q tests/e2e
