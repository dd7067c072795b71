#!/usr/bin/env bash
# How big the derivative DAG is next to the forward DAG: for every case in
# cases/ and for generated tanh MLPs written in index notation, the nodes
# reachable from the loss, the nodes reachable from the loss and its whole
# gradient, their ratio, and the time of `gradproof derive --format json`.
# Prints one JSON object per line.
# Usage: tests/bench/dag_ratio.sh [GRADPROOF]
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$repo/build/gradproof}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
mlp() { # mlp NAME n0 n1 n2 ... : tanh hidden layers, linear output, mean squared error
  local name=$1; shift
  local sizes=("$@") L=$(($# - 1))
  {
    printf 'title "tanh MLP %s"\n' "$(IFS=-; echo "${sizes[*]}")"
    printf 'input x[1..%d]\ntarget y\n' "${sizes[0]}"
    for ((l = 1; l <= L; l++)); do
      printf 'param W%d[1..%d][1..%d] b%d[1..%d]\n' $l "${sizes[l]}" "${sizes[l-1]}" $l "${sizes[l]}"
    done
    printf 'h0[j] = x[j] for j in 1..%d\n' "${sizes[0]}"
    for ((l = 1; l < L; l++)); do
      printf 'h%d[k] = tanh(b%d[k] + sum(j = 1..%d, W%d[k][j]*h%d[j])) for k in 1..%d\n' $l $l "${sizes[l-1]}" $l $((l-1)) "${sizes[l]}"
    done
    printf 'yhat = b%d[1] + sum(j = 1..%d, W%d[1][j]*h%d[j])\n' $L "${sizes[L-1]}" $L $((L-1))
    printf 'loss C = mean((yhat - y)^2)/2\n'
  } >"$tmp/$name.case"
  echo "$tmp/$name.case"
}
measure() { # measure LABEL FILE
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" derive "$2" --format json >"$tmp/out.json"
  t1=$(date +%s.%N)
  python3 - "$1" "$tmp/out.json" "$t0" "$t1" <<'PY'
import json, sys
label, path, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = json.load(open(path))
g = d["dag"]
print(json.dumps({"case": label, "params": len(d["derivatives"]), "forward_nodes": g["forward_nodes"],
                  "with_gradient_nodes": g["with_gradient_nodes"], "ratio": g["ratio"],
                  "seconds": round(t1 - t0, 3)}))
PY
}
for c in "$repo"/cases/*.case; do measure "$(basename "$c" .case)" "$c"; done
measure mlp-16-32-32-1 "$(mlp a 16 32 32 1)"
measure mlp-64-64-64-1 "$(mlp b 64 64 64 1)"
