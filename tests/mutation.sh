#!/usr/bin/env bash
# Mutation meta-test ("no false verdicts"): mutants of every case's holding
# claims and of its network must never be reported "holds" when their value
# changed; claims and check output is deterministic.  The work is done by
# tests/mutate.py (python3, stdlib only), which prints the counts per case and
# in total and ends with "N passed, M failed".
# Options for mutate.py (env): GP_MUTATION_SEED, GP_MUTATION_PER_CLAIM,
# GP_MUTATION_PER_DEF (defaults 20261123, 8, 6).
# Usage: mutation.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP mutation: python3 not found"; exit 77
fi
python3 "$repo/tests/mutate.py" "$bin" "$repo" \
  --seed "${GP_MUTATION_SEED:-20261123}" \
  --per-claim "${GP_MUTATION_PER_CLAIM:-8}" \
  --per-def "${GP_MUTATION_PER_DEF:-6}"
