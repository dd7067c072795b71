#!/usr/bin/env bash
# Deep inputs: a chain of GP_DEEP_N (default 100000) nested definitions
# parses, derives and prints without overflowing the stack; an expression
# nested past the depth limit is an error, not a crash.
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
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
