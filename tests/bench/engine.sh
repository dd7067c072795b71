#!/usr/bin/env bash
# The double tape engine against hand-written C: time per sample of one
# forward plus one reverse sweep (tape_dbl_forward + tape_dbl_reverse) next to
# a hand-written forward/backward of the same network (hand_mlp.c), on the
# same params and data, compiled with the same flags as the library, and the
# two gradients checked against each other (every entry within 1e-10 of
# the sum of the absolute values of its terms, so that entries made small by
# cancellation do not count as disagreements; see engine_bench.c).
#
#   seed 003, 2-3-3-1 sigmoid (cases/seed003_sigmoid_2331.case), batch 1, 256, 1024
#   tanh MLP 64-64-64-1, batch 1024          \ written in index notation by
#   tanh MLP 784-256-256-10, batch 256       / mlp() below
#
# Usage: tests/bench/engine.sh [BUILD_DIR]    (default: build/ of this repo)
# BUILD_DIR must hold libgradproof_core.a, built first, e.g.
#   cmake --build build --target gradproof_core
# Environment: MIN_TIME (seconds per measurement, default 0.3), ROUNDS (best
# of, default 5), CC (default cc).
#
# Prints JSON lines: first {"bench": "engine", "cc", "cflags", "library",
# "hand_selftest", "min_time_s", "rounds"}, then one line per network and
# batch from engine_bench (see engine_bench.c): engine_us_per_sample,
# hand_us_per_sample, ratio = engine / hand (plain sums over the samples, one
# accumulator), ratio_lanes = engine / hand with four accumulators per sum
# (the stronger baseline), bounded_ratio = bounded engine / engine,
# max_scaled_diff engine vs hand (the checked figure), and more.  Ratios are
# measured in one run and are to be compared as such; nothing here is a
# threshold.
# Exit status: 1 when a gradient disagreed or the hand-written self-test
# failed (details on stderr), 2 when something could not be built.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
lib=$build/libgradproof_core.a
[ -f "$lib" ] || { echo "engine.sh: no $lib; build the library first" >&2; exit 2; }
cc=${CC:-cc}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

# The library's own compile flags, read from the build (CMake's flags.make):
# defines and flags; the include directories are the ones the bench needs.
flags_make=$build/CMakeFiles/gradproof_core.dir/flags.make
if [ -f "$flags_make" ]; then
  cflags=$(sed -n 's/^C_DEFINES = //p; s/^C_FLAGS = //p' "$flags_make" | tr '\n' ' ' | sed 's/ *$//')
else
  cflags="-O2 -g -DNDEBUG -std=c11 -D_POSIX_C_SOURCE=200809L"
fi
includes="-I$repo/lib -I$here -isystem /usr/include/flint"
libs="$lib -lflint -lmpfr -lgmp -lm"

# shellcheck disable=SC2086
{
  $cc $cflags $includes -c "$here/hand_mlp.c" -o "$tmp/hand_mlp.o"
  $cc $cflags $includes -c "$here/engine_bench.c" -o "$tmp/engine_bench.o"
  $cc $cflags $includes -DHAND_MLP_MAIN "$here/hand_mlp.c" -o "$tmp/hand_mlp" -lm
  $cc $cflags "$tmp/engine_bench.o" "$tmp/hand_mlp.o" $libs -o "$tmp/engine_bench"
} || { echo "engine.sh: build failed" >&2; exit 2; }

# the hand-written gradients against central finite differences
if "$tmp/hand_mlp" --selftest >"$tmp/selftest.txt"; then selftest=ok; else selftest=FAILED; cat "$tmp/selftest.txt" >&2; fi
python3 - "$cc" "$cflags" "$lib" "$selftest" "${MIN_TIME:-0.3}" "${ROUNDS:-5}" <<'PY'
import json, sys
print(json.dumps({"bench": "engine", "cc": sys.argv[1], "cflags": sys.argv[2], "library": sys.argv[3],
                  "hand_selftest": sys.argv[4], "min_time_s": float(sys.argv[5]), "rounds": int(sys.argv[6])}))
PY
[ "$selftest" = ok ] || exit 1

mlp() { # mlp NAME n0 n1 ... nL : tanh hidden layers, linear output, mean squared error / 2
  local name=$1; shift
  local sizes=("$@") L=$(($# - 1))
  local nL=${sizes[L]}
  {
    printf 'title "tanh MLP %s"\n' "$(IFS=-; echo "${sizes[*]}")"
    printf 'input x[1..%d]\n' "${sizes[0]}"
    if ((nL == 1)); then printf 'target y\n'; else printf 'target y[1..%d]\n' "$nL"; fi
    for ((l = 1; l <= L; l++)); do
      printf 'param W%d[1..%d][1..%d] b%d[1..%d]\n' $l "${sizes[l]}" "${sizes[l-1]}" $l "${sizes[l]}"
    done
    printf 'h0[j] = x[j] for j in 1..%d\n' "${sizes[0]}"
    for ((l = 1; l < L; l++)); do
      printf 'h%d[k] = tanh(b%d[k] + sum(j = 1..%d, W%d[k][j]*h%d[j])) for k in 1..%d\n' $l $l "${sizes[l-1]}" $l $((l-1)) "${sizes[l]}"
    done
    if ((nL == 1)); then
      printf 'yhat = b%d[1] + sum(j = 1..%d, W%d[1][j]*h%d[j])\n' $L "${sizes[L-1]}" $L $((L-1))
      printf 'loss C = mean((yhat - y)^2)/2\n'
    else
      printf 'yhat[o] = b%d[o] + sum(j = 1..%d, W%d[o][j]*h%d[j]) for o in 1..%d\n' $L "${sizes[L-1]}" $L $((L-1)) "$nL"
      printf 'loss C = mean(sum(o = 1..%d, (yhat[o] - y[o])^2))/2\n' "$nL"
    fi
  } >"$tmp/$name.case"
  echo "$tmp/$name.case"
}

status=0
run() { # run NETWORK HAND CASE BATCH
  "$tmp/engine_bench" --network "$1" --hand "$2" --case "$3" --batch "$4" \
    --min-time "${MIN_TIME:-0.3}" --rounds "${ROUNDS:-5}" || status=1
}
seed=$repo/cases/seed003_sigmoid_2331.case
for B in 1 256 1024; do run seed003-2-3-3-1-sigmoid seed003 "$seed" "$B"; done
run mlp-64-64-64-1-tanh mlp:64-64-64-1 "$(mlp a 64 64 64 1)" 1024
run mlp-784-256-256-10-tanh mlp:784-256-256-10 "$(mlp b 784 256 256 10)" 256
exit $status
