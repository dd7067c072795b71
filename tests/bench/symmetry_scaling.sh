#!/usr/bin/env bash
# How the cost of `gradproof symmetry` grows with the number of params.
#
# Layered MLPs n0-n1-n2-1 with biases: linear ones (rational: the exact
# route, Jacobians modulo a prime) up to about 10^4 params, tanh ones (the
# numeric route, MPFR at 256 bits) up to a few hundred.  Prints one line
# per network: route, P, generic rank, seconds, peak memory.  Figures, not
# thresholds: compare the growth between rows of one run.
#
# usage: tests/bench/symmetry_scaling.sh [path/to/gradproof] [max-linear-P]
set -euo pipefail
gp=${1:-build/gradproof}
maxp=${2:-10000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gen() { # n0 n1 n2 act
    python3 - "$@" <<'PY'
import sys
n0, n1, n2, act = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
f = (lambda e: e) if act == 'linear' else (lambda e: f"{act}({e})")
print(f'title "bench {act} {n0}-{n1}-{n2}-1"')
print(f"input x[1..{n0}]\ntarget y")
print(f"param W1[1..{n1}][1..{n0}] b1[1..{n1}]\nparam W2[1..{n2}][1..{n1}] b2[1..{n2}]\nparam v[1..{n2}]")
print(f"h1[k] = {f(f'sum(j = 1..{n0}, W1[k][j]*x[j]) + b1[k]')} for k in 1..{n1}")
print(f"h2[m] = {f(f'sum(k = 1..{n1}, W2[m][k]*h1[k]) + b2[m]')} for m in 1..{n2}")
print(f"yhat = sum(m = 1..{n2}, v[m]*h2[m])\noutput yhat\nloss C = mean((yhat - y)^2)/2")
PY
}

printf '%-8s %7s %6s %9s %9s\n' route P rank seconds maxrss_MB
run() { # act n0 n1 n2
    local act=$1 P=$(( $2 * $3 + $3 + $3 * $4 + $4 + $4 ))
    gen "$2" "$3" "$4" "$1" > "$tmp/c.case"
    /usr/bin/time -f '%e %M' -o "$tmp/t" "$gp" symmetry "$tmp/c.case" --json > "$tmp/out.json"
    local rank
    rank=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rank"]["generic"])' "$tmp/out.json")
    read -r sec kb < "$tmp/t"
    printf '%-8s %7d %6s %9s %9d\n' "$act" "$P" "$rank" "$sec" $(( kb / 1024 ))
}
for s in "2 4 4" "4 8 8" "8 16 16" "16 32 32" "24 48 48" "40 80 80"; do
    set -- $s
    P=$(( $1 * $2 + $2 + $2 * $3 + $3 + $3 ))
    [ "$P" -le "$maxp" ] && run linear "$@"
done
for s in "2 4 4" "4 8 8" "6 12 12" "8 16 16"; do
    run tanh $s
done
