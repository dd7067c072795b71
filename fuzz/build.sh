#!/usr/bin/env bash
# Build the libFuzzer targets fuzz_case and fuzz_tape into DIR, compiling the
# library sources (lib/*.c) directly with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer; CMake is not involved.
# Usage: fuzz/build.sh DIR        (CC=clang-14 etc. to pick another clang)
# Exit status: 0 built, 1 a compile error, 77 no clang with libFuzzer here.
set -eu
out=${1:?usage: fuzz/build.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cc=${CC:-clang}
jobs=${GP_FUZZ_JOBS:-1}
flags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fno-omit-frame-pointer
       -fno-sanitize-recover=undefined
       -I"$repo/lib" -isystem /usr/include/flint)
libs=(-lflint -lmpfr -lgmp -lnauty -lm)

mkdir -p "$out/obj"
# libFuzzer present?  (gcc, or clang without compiler-rt, fails here)
probe=$out/obj/probe
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" 2>"$probe.log"; then
  echo "SKIP: $cc cannot build libFuzzer targets ($(head -1 "$probe.log"))" >&2
  exit 77
fi

# the library: once, instrumented for coverage but without libFuzzer's main
objs=()
pids=()
for src in "$repo"/lib/*.c; do
  o=$out/obj/$(basename "$src" .c).o
  objs+=("$o")
  if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ "$0" -nt "$o" ] ||
     [ -n "$(find "$repo/lib" -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
    "$cc" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$o" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

for t in fuzz_case fuzz_tape; do
  "$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined "$here/$t.c" "${objs[@]}" "${libs[@]}" -o "$out/$t"
done
echo "built $out/fuzz_case $out/fuzz_tape"
