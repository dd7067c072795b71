#!/usr/bin/env bash
# How the cost of `gradproof check` grows with the number of params P: a
# full check (one MPFR finite difference per param) against a directional
# one (one difference per random direction), on tanh MLPs n-h-h-1 written
# in index notation with P = 15, 121, 1081 and 10171, 8 seeded samples, one
# point.  Prints one JSON object per line: P, seconds of each, their ratio.
# A full check slower than BENCH_TIMEOUT seconds (default 900) is stopped
# and reported as a lower bound.
# Usage: tests/bench/check_scaling.sh [GRADPROOF]
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$repo/build/gradproof}
limit=${BENCH_TIMEOUT:-900}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
mlp() { # mlp FILE n h : tanh hidden layers of width h, linear output, mean squared error
  {
    printf 'input x[1..%d]\ntarget y\n' "$2"
    printf 'param W1[1..%d][1..%d] b1[1..%d] W2[1..%d][1..%d] b2[1..%d] v[1..%d] c\n' "$3" "$2" "$3" "$3" "$3" "$3" "$3"
    printf 'h1[k] = tanh(b1[k] + sum(j = 1..%d, W1[k][j]*x[j])) for k in 1..%d\n' "$2" "$3"
    printf 'h2[k] = tanh(b2[k] + sum(j = 1..%d, W2[k][j]*h1[j])) for k in 1..%d\n' "$3" "$3"
    printf 'yhat = c + sum(k = 1..%d, v[k]*h2[k])\n' "$3"
    printf 'loss C = mean((yhat - y)^2)/2\n'
  } >"$1"
}
timed() { # timed SECONDS-LIMIT CMD... : prints seconds, or -1 on timeout
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout "$1" "${@:2}" >/dev/null 2>&1 && rc=0 || rc=$?
  t1=$(date +%s.%N)
  if [ $rc -eq 124 ]; then echo -1; else python3 -c "print(round($t1 - $t0, 3))"; fi
}
for shape in "2 2" "4 8" "10 27" "20 90"; do
  set -- $shape
  f=$tmp/mlp-$1-$2.case
  mlp "$f" "$1" "$2"
  P=$(( $1 * $2 + $2 + $2 * $2 + $2 + $2 + 1 ))
  full=$(timed "$limit" "$bin" check "$f" --points 1)
  dir=$(timed "$limit" "$bin" check "$f" --points 1 --directional --directions 2)
  python3 - "$P" "$full" "$dir" "$limit" <<'PY'
import json, sys
P, full, d, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
out = {"params": P, "full_check_s": full if full >= 0 else None, "directional_check_s": d if d >= 0 else None}
if full < 0:
    out["full_check_s_at_least"] = limit
if full >= 0 and d > 0:
    out["full_over_directional"] = round(full / d, 2)
print(json.dumps(out))
PY
done
