#!/usr/bin/env bash
# CLI tests: exit codes, stdout and stderr kept apart, options, standard input.
# Usage: cli.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C
pass=0 fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# run ID EXPECTED-EXIT ARGS... : stdout in $tmp/out, stderr in $tmp/err
run() {
  local id=$1 want=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ $rc -ne "$want" ]; then
    echo "FAIL $id: exit $rc, wanted $want ($*)"; sed 's/^/  stderr: /' "$tmp/err" | head -5; fail=$((fail+1)); return 1
  fi
  return 0
}
ok() { pass=$((pass+1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail+1)); }
has() { grep -qF -- "$2" "$1"; }

s000=$repo/cases/seed000_linear_221.case

run cli-1 0 --help && has "$tmp/out" "usage: gradproof" && [ ! -s "$tmp/err" ] && ok || bad cli-1 "--help"
run cli-2 0 --version && has "$tmp/out" "gradproof 0." && ok || bad cli-2 "--version"
run cli-3 0 derive --help && has "$tmp/out" "--expand" && ok || bad cli-3 "derive --help"
run cli-4 2 && has "$tmp/err" "a command is needed" && [ ! -s "$tmp/out" ] && ok || bad cli-4 "no command"
run cli-5 2 frobnicate x.case && has "$tmp/err" "unknown command 'frobnicate'" && ok || bad cli-5 "unknown command"
run cli-6 2 derive && has "$tmp/err" "a case file is needed" && ok || bad cli-6 "no case"
run cli-7 2 derive "$s000" --bogus && has "$tmp/err" "unknown option '--bogus'" && ok || bad cli-7 "unknown option"
run cli-8 2 derive "$s000" --format pdf && has "$tmp/err" "unknown format 'pdf'" && ok || bad cli-8 "bad format"
run cli-9 2 derive /nonexistent/x.case && has "$tmp/err" "cannot open '/nonexistent/x.case'" && [ ! -s "$tmp/out" ] && ok || bad cli-9 "missing file"
run cli-10 0 derive "$s000" && has "$tmp/out" "∂C/∂w₁₁₁ = w₂₁₁·mean((ŷ − y)·x₁)" && [ ! -s "$tmp/err" ] && ok || bad cli-10 "seed 000 table"
# standard input
"$bin" derive - <"$s000" >"$tmp/out" 2>"$tmp/err" && has "$tmp/out" "∂C/∂w₂₁₂" && ok || bad cli-11 "derive from stdin"
# --wrt selects params, in the order given; all three spellings
run cli-12 0 derive "$s000" --wrt w211 w111 && [ "$(grep -c '^∂C/∂' "$tmp/out")" = 2 ] && \
  grep '^∂C/∂' "$tmp/out" | head -1 | grep -q '^∂C/∂w₂₁₁ ' && ok || bad cli-12 "--wrt list"
run cli-13 0 derive "$s000" --wrt=w211,w111 && [ "$(grep -c '^∂C/∂' "$tmp/out")" = 2 ] && ok || bad cli-13 "--wrt=a,b"
run cli-14 0 derive --wrt w211 --wrt w212 "$s000" && [ "$(grep -c '^∂C/∂' "$tmp/out")" = 2 ] && ok || bad cli-14 "repeated --wrt"
run cli-15 2 derive "$s000" --wrt x1 && has "$tmp/err" "'x1' is an input, not a param" && ok || bad cli-15 "--wrt input"
run cli-16 2 derive "$s000" --wrt w11 && has "$tmp/err" "unknown param 'w11' (did you mean" && ok || bad cli-16 "--wrt typo"
run cli-17 0 derive "$repo/cases/tanh_mlp.case" --wrt 'W1[2][3]' && has "$tmp/out" "∂C/∂W₁₂₃" && ok || bad cli-17 "--wrt indexed"
run cli-18 2 derive "$repo/cases/tanh_mlp.case" --wrt 'W1[9][3]' && has "$tmp/err" "index 9 out of range 1..4 for 'W1'" && ok || bad cli-18 "--wrt index range"
# JSON: one document on stdout, also for errors
for c in "$repo"/cases/*.case; do
  "$bin" derive "$c" --format json >"$tmp/out" 2>"$tmp/err" </dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["derivatives"] and d["diagnostics"]==[]' "$tmp/out" \
    && ok || bad cli-19 "json of $(basename "$c")"
done
printf 'param w\nloss C = w^2 +\n' >"$tmp/bad.case"
run cli-20 2 derive "$tmp/bad.case" --format json && \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is False and d["diagnostics"][0]["line"]==2' "$tmp/out" \
  && ok || bad cli-20 "json error document"
# a failed write is a system failure
if [ -w /dev/full ]; then
  "$bin" derive "$s000" >/dev/full 2>"$tmp/err"; rc=$?
  [ $rc -eq 3 ] && has "$tmp/err" "cannot write" && ok || bad cli-21 "write to /dev/full gave $rc"
fi
# limits are options of every command
run cli-22 2 derive "$s000" --max-nodes 10 && has "$tmp/err" "limit of 10 nodes" && ok || bad cli-22 "--max-nodes"
run cli-23 2 derive "$s000" --max-depth x && has "$tmp/err" "--max-depth needs a positive whole number" && ok || bad cli-23 "bad limit"
run cli-24 2 derive "$s000" "$s000" && has "$tmp/err" "one case file at a time" && ok || bad cli-24 "two cases"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
