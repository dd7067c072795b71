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
# every limit: past it, an error that names it (exit 2); raised, the same input works
lr=$repo/cases/linreg.case
run lim-file 2 derive "$lr" --max-file-bytes 900 && has "$tmp/err" "larger than the limit of 900 bytes (raise it with --max-file-bytes)" && ok || bad lim-file "case file"
printf 'input x\ntarget y\nparam w\nloss C = mean((w*x - y)^2)\ndata "big.csv"\n' >"$tmp/bigdata.case"
{ echo x,y; for ((i = 0; i < 400; i++)); do echo "$i,$((2 * i))"; done; } >"$tmp/big.csv"
run lim-data 2 derive "$tmp/bigdata.case" --max-file-bytes 2000 && has "$tmp/err" "big.csv' is larger than the limit of 2000 bytes (raise it with --max-file-bytes)" && ok || bad lim-data "a case under, its data over"
run lim-file-ok 0 derive "$lr" --max-file-bytes 1000 && ok || bad lim-file-ok "within --max-file-bytes 1000"
run lim-nodes-ok 0 derive "$s000" --max-nodes 1000 && ok || bad lim-nodes-ok "within --max-nodes 1000"
run lim-elem 2 derive "$repo/cases/tanh_mlp.case" --max-elements 20 && has "$tmp/err" "limit of 20 (raise it with --max-elements)" && ok || bad lim-elem "--max-elements 20"
run lim-elem-ok 0 derive "$repo/cases/tanh_mlp.case" --max-elements 100 && ok || bad lim-elem-ok "--max-elements 100"
run lim-expand 2 derive "$repo/cases/seed002_linear_net.case" --expand --max-expand-terms 2 && has "$tmp/err" "more terms than the limit of 2 (raise it with --max-expand-terms)" && ok || bad lim-expand "--max-expand-terms 2"
run lim-expand-ok 0 derive "$repo/cases/seed002_linear_net.case" --expand --max-expand-terms 100 && ok || bad lim-expand-ok "--max-expand-terms 100"
run lim-prec 2 check "$s000" --precision 70000 && has "$tmp/err" "error: --precision 70000 is above the limit of 65536 bits (raise it with --max-precision)" && ok || bad lim-prec "--precision 70000"
run lim-prec-2 2 check "$s000" --precision 1024 --max-precision 512 && has "$tmp/err" "above the limit of 512 bits" && ok || bad lim-prec-2 "--max-precision 512"
run lim-prec-3 2 check "$s000" --max-precision 100 && has "$tmp/err" "--max-precision needs at least 256" && ok || bad lim-prec-3 "--max-precision 100"
run lim-prec-ok 0 check "$s000" --points 1 --precision 1024 --max-precision 1024 && has "$tmp/out" ", 1024 bits" && ok || bad lim-prec-ok "--precision 1024 within --max-precision 1024"
# an allocation that fails inside GMP, MPFR or FLINT ends in exit 3 with a
# message, not in their abort (a data set of 60000 huge exact values, in
# 300 MB of address space; skipped where the binary cannot start that small,
# as under AddressSanitizer or valgrind)
{ echo x1,y; for ((i = 0; i < 60000; i++)); do echo "1e9999,1e-9999"; done; } >"$tmp/e.csv"
printf 'input x1\ntarget y\nparam w1 w2\nloss C = mean((tanh(w1*x1) + w2 - y)^2)\ndata "e.csv"\n' >"$tmp/ecsv.case"
if (ulimit -v 300000; "$bin" --version) >/dev/null 2>&1; then
  (ulimit -v 300000; "$bin" derive "$tmp/ecsv.case") >/dev/null 2>"$tmp/err" </dev/null; rc=$?
  [ $rc -eq 3 ] && has "$tmp/err" "out of memory" && ok || bad cli-oom "a failed allocation in GMP: exit $rc, $(head -c 200 "$tmp/err")"
fi
# -o never overwrites the case it reads (the same file by another path too)
cp "$s000" "$tmp/self.case"
run cli-self-o 2 report "$tmp/self.case" -o "$tmp/./self.case" && has "$tmp/err" "is the case file itself" &&
  cmp -s "$s000" "$tmp/self.case" && ok || bad cli-self-o "the case was overwritten or no message"
run cli-self-o-dot 2 dot "$tmp/self.case" -o "$tmp/self.case" && cmp -s "$s000" "$tmp/self.case" && ok || bad cli-self-o-dot "dot -o"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
