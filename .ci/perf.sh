#!/usr/bin/env bash
# Builds the benchmarks and their tools so they do not rot, and runs each
# once as a smoke test: criterion runs every benchmark a single time, and
# the load generator and the floor server print their usage and exit.
# The measured run is bench/run.sh, which CI does not run: its figures
# depend on the machine, and tests in CI never depend on timing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

printf '\n==== %s ====\n' "Benchmarks build and run once: cargo test --benches"
cargo test --locked --benches
