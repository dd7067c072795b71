#!/usr/bin/env bash
# The libFuzzer targets (fuzz/fuzz_case.c, fuzz/fuzz_tape.c): build them with
# clang, replay the regression inputs of fuzz/regressions/, then fuzz each
# target for GP_FUZZ_SECONDS (default 60) from a copy of fuzz/corpus/.
# Fails with the crashing input's path and first lines when a target crashes.
# Usage: fuzz.sh GRADPROOF REPO       exit 77 (skip) without clang + libFuzzer
# Environment: GP_FUZZ_SECONDS (0: build and replay only), GP_FUZZ_DIR (the
# build directory, default $(dirname GRADPROOF)/fuzz), GP_FUZZ_TARGETS.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
repo=$(cd "$2" && pwd)
secs=${GP_FUZZ_SECONDS:-60}
dir=${GP_FUZZ_DIR:-$(dirname "$bin")/fuzz}
targets=${GP_FUZZ_TARGETS:-fuzz_case fuzz_tape}
export LC_ALL=C.UTF-8
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

cc=${CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "SKIP: no $cc (libFuzzer needs clang)"; exit 77
fi
bash "$repo/fuzz/build.sh" "$dir" >"$dir.build.log" 2>&1 || {
  rc=$?
  if [ $rc -eq 77 ]; then echo "SKIP: $(grep -m1 SKIP "$dir.build.log" | sed 's/^SKIP: //')"; exit 77; fi
  echo "FAIL build: fuzz/build.sh exited $rc"; tail -20 "$dir.build.log"; exit 1
}

fail=0
# show TARGET PATH: the input that crashed, its first lines (fuzz_tape: the
# case it builds from the bytes, then the bytes)
show() {
  echo "  crashing input: $2 ($(wc -c <"$2") bytes); its first lines:"
  if [ "$1" = fuzz_tape ]; then
    GP_FUZZ_DEBUG=1 "$dir/$1" "$2" 2>&1 | sed -n '/^input /,/^at \|^# no at/p' | head -20 | sed 's/^/  | /'
    od -An -tx1 "$2" | head -4 | sed 's/^/  bytes:/'
  else
    head -c 2000 "$2" | head -15 | cat -v | sed 's/^/  | /'; echo
  fi
}
# why LOG: the sanitizer's message and the top of the stack
why() {
  grep -m3 -E 'ERROR|runtime error|SUMMARY' "$1" | sed 's/^/  /'
  grep -m6 -E '^ +#[0-9]+ 0x' "$1" | sed 's/^/  /'
}
opts=(-timeout=10 -rss_limit_mb=2048 -max_len=4096)

for t in $targets; do
  short=${t#fuzz_}
  # the regressions: each file once
  reg=$repo/fuzz/regressions/$short
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    for f in "$reg"/*; do
      if ! "$dir/$t" "${opts[@]}" "$f" >"$dir/$t.replay.log" 2>&1; then
        echo "FAIL $t regression $(basename "$f"):"
        why "$dir/$t.replay.log"
        show "$t" "$f"; fail=$((fail+1))
      fi
    done
  fi
  [ "$secs" -gt 0 ] || continue
  # the fuzzing: from a scratch copy of the seed corpus
  work=$dir/$t.work
  rm -rf "$work"; mkdir -p "$work/corpus" "$work/artifacts"
  cp "$repo/fuzz/corpus/$short/"* "$work/corpus/"
  start=$(date +%s)
  (cd "$work" && "$dir/$t" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" corpus >"$work/log" 2>&1)
  rc=$?
  stats=$(grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$work/log" | tr '\n' ' ')
  crash=$(ls "$work/artifacts/" 2>/dev/null | head -1)
  if [ $rc -ne 0 ] || [ -n "$crash" ]; then
    echo "FAIL $t: libFuzzer exited $rc after $(( $(date +%s) - start ))s"
    why "$work/log"
    if [ -n "$crash" ]; then
      show "$t" "$work/artifacts/$crash"
      echo "  full log: $work/log; minimise with: $dir/$t -minimize_crash=1 -runs=10000 $work/artifacts/$crash"
      echo "  then save the minimised input in fuzz/regressions/$short/"
    fi
    fail=$((fail+1))
  else
    echo "ok $t: ${secs}s, $stats"
  fi
done
[ $fail -eq 0 ] || { echo "$fail fuzz failure(s)"; exit 1; }
echo "fuzz: no crash"
