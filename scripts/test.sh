#!/usr/bin/env bash
# Runs every test Cove has: formatting and lints, the Rust unit and integration tests
# (which drive real `cove serve` processes), and the end-to-end scenarios with the real
# AWS CLI and boto3. Needs: the Rust toolchain, python3 with boto3, pytest and awscli.
#
# With COVE_TEST_POSTGRES_URL set (a PostgreSQL database the tests may create schemas and
# databases from, e.g. postgres://postgres@127.0.0.1:5432/postgres), the PostgreSQL backend's
# conformance and backend tests run too, so do the integration tests of several nodes on one
# database and of losing the database (through a TCP proxy they cut; the shared PostgreSQL is
# never stopped), and the integration suite runs a second time with every server on
# PostgreSQL. Without it they are skipped, and this script says so.
set -euo pipefail
cd "$(dirname "$0")/.."

# The URL as it may be printed: without its password.
redacted() { sed -E 's#(://[^:@/]*):[^@/]*@#\1:***@#' <<<"$1"; }

postgres_notice() {
    if [ -n "${COVE_TEST_POSTGRES_URL:-}" ]; then
        echo "PostgreSQL tests: RUN against $(redacted "$COVE_TEST_POSTGRES_URL") (conformance, backend tests, multi-node and outage tests, the integration suite on PostgreSQL)"
    else
        echo "PostgreSQL tests: SKIPPED (set COVE_TEST_POSTGRES_URL to a database URL to run them)"
    fi
}
postgres_notice

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --bins --locked
cargo test --workspace --locked
if [ -n "${COVE_TEST_POSTGRES_URL:-}" ]; then
    # The integration suite again, every server on a fresh PostgreSQL database (about a minute
    # on two cores; the binaries are already built).
    COVE_TEST_IT_STORAGE=postgres cargo test -p cove-cli --test it --locked
fi
COVE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/cove" python3 -m pytest -q tests/e2e
postgres_notice
