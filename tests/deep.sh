#!/usr/bin/env bash
# Deep and big inputs: a chain of GP_DEEP_N (default 100000) nested
# definitions parses, derives and prints without overflowing the stack; an
# expression nested past the depth limit is an error, not a crash; a network
# of more than 10^6 nodes (GP_BIG_INPUTS inputs, default 500) runs grad,
# derive and check within the default limits.
# Usage: deep.sh GRADPROOF REPO
set -u
bin=$1
n=${GP_DEEP_N:-100000}
export LC_ALL=C
pass=0 fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
{
  printf 'title "a chain of %s tanh units"\ninput x\ntarget y\nparam w a\nz0 = w*x\n' "$n"
  for ((i = 1; i <= n; i++)); do printf 'z%d = tanh(a*z%d)\n' $i $((i - 1)); done
  printf 'loss C = mean((z%d - y)^2)\n' "$n"
} >"$tmp/chain.case"
ulimit -s 8192 2>/dev/null
"$bin" derive "$tmp/chain.case" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "^∂C/∂w = " "$tmp/out" && grep -q "^∂C/∂a = " "$tmp/out" && grep -q "z$(printf '%s' "$n" | sed 's/0/₀/g;s/1/₁/g;s/2/₂/g;s/3/₃/g;s/4/₄/g;s/5/₅/g;s/6/₆/g;s/7/₇/g;s/8/₈/g;s/9/₉/g')" "$tmp/out"; then
  pass=$((pass+1))
else
  echo "FAIL deep-1: chain of $n definitions: exit $rc"; head -c 600 "$tmp/err"; fail=$((fail+1))
fi
# the output stays linear in the size of the chain (auxiliary names for the shared parts)
size=$(wc -c <"$tmp/out")
if [ "$size" -lt $((n * 2000)) ]; then pass=$((pass+1)); else echo "FAIL deep-2: output of $size bytes for $n units"; fail=$((fail+1)); fi
# nesting past the limit: a clear error
{ printf 'param w\nloss C = '; for ((i = 0; i < 5000; i++)); do printf '('; done; printf 'w'; for ((i = 0; i < 5000; i++)); do printf ')'; done; printf '\n'; } >"$tmp/nest.case"
"$bin" derive "$tmp/nest.case" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 2 ] && grep -q "nested deeper than the limit of 1000 levels" "$tmp/err"; then pass=$((pass+1)); else echo "FAIL deep-3: exit $rc"; head -3 "$tmp/err"; fail=$((fail+1)); fi
# and within a raised limit it works (2000 levels fit the stack of a sanitizer build too)
{ printf 'param w\nloss C = '; for ((i = 0; i < 2000; i++)); do printf '('; done; printf 'w'; for ((i = 0; i < 2000; i++)); do printf ')'; done; printf '\n'; } >"$tmp/nest.case"
"$bin" derive "$tmp/nest.case" --max-depth 3000 >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "^∂C/∂w = 1$" "$tmp/out"; then pass=$((pass+1)); else echo "FAIL deep-4: exit $rc"; head -3 "$tmp/err"; fail=$((fail+1)); fi
# a long flat sum is wide, not deep
{ printf 'param w\ninput x\nloss C = w*x'; for ((i = 0; i < 100000; i++)); do printf ' + w'; done; printf '\n'; } >"$tmp/wide.case"
"$bin" derive "$tmp/wide.case" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "^∂C/∂w = 100000 + x" "$tmp/out"; then pass=$((pass+1)); else echo "FAIL deep-5: exit $rc"; head -3 "$tmp/out" "$tmp/err"; fail=$((fail+1)); fi
# a network of more than a million nodes works within the default limits:
# GP_BIG_INPUTS (default 500) inputs, 1000 tanh units, one output.  That it
# has more than 10^6 nodes is shown by --max-nodes 1000000 refusing it.
ni=${GP_BIG_INPUTS:-500}
{
  printf 'title "%s inputs, 1000 tanh units"\ninput x[1..%s]\ntarget y\nparam W[1..1000][1..%s] b[1..1000] v[1..1000]\n' "$ni" "$ni" "$ni"
  printf 'h[k] = tanh(sum(j = 1..%s, W[k][j]*x[j]) + b[k]) for k in 1..1000\n' "$ni"
  printf 'yhat = sum(k = 1..1000, v[k]*h[k])\noutput yhat\nloss C = mean((yhat - y)^2)/2\n'
} >"$tmp/big.case"
np=$((1000 * ni + 2000))
if [ "$ni" -ge 500 ]; then
  "$bin" grad "$tmp/big.case" --max-nodes 1000000 >"$tmp/out" 2>"$tmp/err"; rc=$?
  if [ $rc -eq 2 ] && grep -q "exceeds the limit of 1000000 nodes" "$tmp/err"; then pass=$((pass+1)); else echo "FAIL big-1: the network has no more than 10^6 nodes (exit $rc)"; fail=$((fail+1)); fi
fi
"$bin" grad "$tmp/big.case" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^[Wbv]' "$tmp/out")" -eq "$np" ]; then pass=$((pass+1)); else echo "FAIL big-2: grad: exit $rc, $(grep -c '^[Wbv]' "$tmp/out") gradients of $np"; head -3 "$tmp/err"; fail=$((fail+1)); fi
"$bin" derive "$tmp/big.case" --wrt "W[1000][$ni]" --wrt 'v[1]' >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "^∂C/∂W₁₀₀₀,$(printf '%s' "$ni" | sed 's/0/₀/g;s/1/₁/g;s/2/₂/g;s/3/₃/g;s/4/₄/g;s/5/₅/g;s/6/₆/g;s/7/₇/g;s/8/₈/g;s/9/₉/g') *= " "$tmp/out" && grep -q "^∂C/∂v₁ *= " "$tmp/out"; then pass=$((pass+1)); else echo "FAIL big-3: derive --wrt: exit $rc"; head -3 "$tmp/err"; grep '^∂' "$tmp/out" | head -3; fail=$((fail+1)); fi
# check: more than 1000 params, so along directions, and the routes agree
"$bin" check "$tmp/big.case" --points 1 >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc -eq 0 ] && grep -q "^$np params, more than 1000: v·∇C compared along 2 random directions per point" "$tmp/out" &&
   grep -q "^2 directions, 1 point: all three routes agree" "$tmp/out"; then pass=$((pass+1)); else echo "FAIL big-4: check: exit $rc"; head -3 "$tmp/err"; head -3 "$tmp/out"; fail=$((fail+1)); fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
