#!/usr/bin/env bash
# Allocation-failure injection: gradproof's own allocations (malloc, calloc,
# realloc, strdup called from lib/ and cli/) are made to fail one at a time
# through the LD_PRELOAD shim failmalloc.so, and every run must either end in
# exit status 3 with "out of memory" on stderr, or recover and exit exactly
# like the run without injection, with the same stdout.  A crash (a signal),
# a hang (60 s) or any other outcome -- a verdict or an input error computed
# after a failed allocation -- is a failure, printed with the command, the
# call number, the allocation that failed and, for a crash, gdb's backtrace.
#
# Usage: oom.sh GRADPROOF REPO SHIM
# Which calls fail, per command: the first 30, 150 spread evenly over all of
# them (all of them when there are few), and the first call of every call
# site that no earlier command has reached (so every allocation site reached
# fails at least once).  The second case's commands and the variants of an
# option take 10 and 30 instead of 30 and 150.  The allocation functions
# that cli/main.c hands to GMP and FLINT ("hook" calls, see failmalloc.c)
# are counted apart and fail at the first call of each of their sites.
#   GP_OOM_FIRST, GP_OOM_SPREAD   change the 30 and the 150
#   GP_OOM_ALL=1                  every call of every command (slow: about
#                                 45000 runs, most of an hour)
#   GP_OOM_JOBS                   runs at a time (default 2)
# Exit 77 when the shim is missing or does not take hold (a static binary).
set -u
bin=$1 repo=$2 shim=$3
export LC_ALL=C.UTF-8
first=${GP_OOM_FIRST:-30} spread=${GP_OOM_SPREAD:-150} all=${GP_OOM_ALL:-0} jobs=${GP_OOM_JOBS:-2}
start=$(date +%s)

if [ ! -f "$shim" ]; then
  echo "SKIP: no allocation-failure shim at $shim"
  exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# the shim must see gradproof's own allocations
env LD_PRELOAD="$shim" GP_FAILMALLOC_COUNT="$tmp/probe" "$bin" derive "$repo/cases/seed000_linear_221.case" >/dev/null 2>&1
if [ ! -s "$tmp/probe" ] || [ "$(cut -d' ' -f1 "$tmp/probe")" -eq 0 ]; then
  echo "SKIP: the shim counts no allocations of $bin (static, or LD_PRELOAD ignored)"
  exit 77
fi

# one injected run: JOBDIR N -> a line "ok N" or "FAIL N" (details in JOBDIR/fail.N);
# N is the number of an own call, or hK of a hook call; base_rc is the exit
# status of the run without injection
run1() {
  local dir=$1 n=$2 rc var=GP_FAILMALLOC_N
  local -a args
  mapfile -t args <"$dir/args"
  [ "${n#h}" != "$n" ] && var=GP_FAILMALLOC_HOOK_N
  # in a subshell, so that bash's own "Aborted" line goes nowhere
  (timeout -k 5 60 env LD_PRELOAD="$shim" "$var=${n#h}" GP_FAILMALLOC_LOG="$dir/log.$n" \
    "$bin" "${args[@]}" >"$dir/out.$n" 2>"$dir/err.$n" </dev/null; exit $?) 2>/dev/null
  rc=$?
  local why=
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    why="hang (no exit within 60 s)"
  elif [ $rc -ge 128 ]; then
    why="crash (signal $((rc - 128)))"
  elif [ $rc -eq 3 ] && grep -qi 'memory' "$dir/err.$n"; then
    why=
  elif [ $rc -eq "$base_rc" ] && cmp -s "$dir/out.$n" "$dir/base.out"; then
    why= # recovered: the same result as without the failure
  elif [ $rc -eq 3 ]; then
    why="exit 3 without an out-of-memory message"
  else
    why="exit $rc (uninjected: $base_rc)$(cmp -s "$dir/out.$n" "$dir/base.out" || echo ', other stdout'): a result after a failed allocation"
  fi
  if [ -z "$why" ]; then
    echo "ok $n"
    rm -f "$dir/out.$n" "$dir/err.$n" "$dir/log.$n"
    return
  fi
  {
    echo "FAIL $(cat "$dir/name") N=$n: $why"
    echo "  command: $var=${n#h} LD_PRELOAD=$shim $bin ${args[*]}"
    sed 's/^/  stderr| /' "$dir/err.$n" | head -5
    if [ -s "$dir/log.$n" ] && command -v addr2line >/dev/null; then
      head -1 "$dir/log.$n" | sed 's/ from .*//; s/^/  failed allocation: /'
      awk '$1 == "frame" { print $2 }' "$dir/log.$n" | addr2line -e "$bin" -f -i -p -s 2>/dev/null | head -12 | sed 's/^/    at /'
    fi
    if [ $rc -ge 128 ] && [ $rc -ne 137 ] && command -v gdb >/dev/null; then
      echo "  backtrace:"
      timeout 120 gdb -q -batch -ex 'set startup-with-shell off' -ex "set environment LD_PRELOAD=$shim" \
        -ex "set environment $var=${n#h}" -ex run -ex bt --args "$bin" "${args[@]}" </dev/null 2>&1 |
        grep -E '^#' | head -15 | sed 's/^/    /'
    fi
  } >"$dir/fail.$n"
  echo "FAIL $n"
}
export -f run1
export bin shim

# job NAME ARGS...: count the allocations, choose the calls to fail, run them
# (FIRST and SPREAD in the environment of the call override the defaults)
njob=0 nruns=0 nfail=0
: >"$tmp/seen"
job() {
  local name=$1; shift
  local jfirst=${FIRST:-$first} jspread=${SPREAD:-$spread}
  njob=$((njob + 1))
  local dir=$tmp/job$njob
  mkdir -p "$dir"
  echo "$name" >"$dir/name"
  printf '%s\n' "$@" >"$dir/args"
  env LD_PRELOAD="$shim" GP_FAILMALLOC_COUNT="$dir/count" GP_FAILMALLOC_SITES="$dir/sites" \
    "$bin" "$@" >"$dir/base.out" 2>"$dir/base.err" </dev/null
  base_rc=$?
  export base_rc
  local total hooks
  read -r total hooks <"$dir/count" || total=0
  if [ "${total:-0}" -eq 0 ]; then
    echo "FAIL $name: no allocations counted"
    nfail=$((nfail + 1))
    return
  fi
  {
    if [ "$all" = 1 ] || [ "$total" -le $((jfirst + jspread)) ]; then
      seq 1 "$total"
    else
      seq 1 "$jfirst"
      awk -v t="$total" -v k="$jspread" 'BEGIN { for (i = 1; i <= k; i++) print int(i * t / k) }'
      # the first call of each site not reached before
      awk -v f="$tmp/seen" 'BEGIN { while ((getline l <f) > 0) seen[l] = 1 }
                            $4 == "own" && !($1 in seen) { print $2 }' "$dir/sites"
    fi
  } | sort -n -u >"$dir/ns"
  # hook sites: each once, in the first command that reaches it
  awk -v f="$tmp/seen" 'BEGIN { while ((getline l <f) > 0) seen[l] = 1 }
                        $4 == "hook" && !($1 in seen) { print "h" $2 }' "$dir/sites" >>"$dir/ns"
  awk '{ print $1 }' "$dir/sites" >>"$tmp/seen"
  local nsites nhsites
  nsites=$(grep -c ' own$' "$dir/sites")
  nhsites=$(grep -c ' hook$' "$dir/sites")
  xargs -P "$jobs" -n 1 bash -c 'run1 "$0" "$1"' "$dir" <"$dir/ns" >"$dir/results"
  local runs f
  runs=$(wc -l <"$dir/results")
  f=$(grep -c '^FAIL' "$dir/results")
  nruns=$((nruns + runs))
  nfail=$((nfail + f))
  printf '%-30s %5d own calls from %3d sites (+%6d hook calls, %d sites), exit %d: %3d runs, %d failed\n' \
    "$name" "$total" "$nsites" "${hooks:-0}" "$nhsites" "$base_rc" "$runs" "$f"
  for n in $(awk '$1 == "FAIL" { print $2 }' "$dir/results" | sort -n); do
    cat "$dir/fail.$n"
  done
}

small=$repo/cases/seed000_linear_221.case
mlp=$repo/cases/tanh_mlp.case
"$bin" grad "$small" --json >"$tmp/grad-small.json" 2>/dev/null

job "derive small"            derive "$small"
job "claims small"            claims "$small"
job "check small"             check "$small" --points 1
job "symmetry small"          symmetry "$small"
job "report small"            report "$small"
job "dot small"               dot "$small" --highlight w111
job "grad small"              grad "$small"
job "verify small"            verify "$small" --gradients "$tmp/grad-small.json"
FIRST=10 SPREAD=30 job "derive --expand --wrt= small" derive "$small" --expand --wrt=w111,w212 --format latex
FIRST=10 SPREAD=30 job "claims --json small"   claims "$small" --json
FIRST=10 SPREAD=30 job "grad --at small"       grad "$small" --at 'w111 = 1/2'
FIRST=10 SPREAD=30 job "derive mlp"            derive "$mlp"
FIRST=10 SPREAD=30 job "claims mlp"            claims "$mlp"
FIRST=10 SPREAD=30 job "check mlp"             check "$mlp" --points 1
FIRST=10 SPREAD=30 job "symmetry mlp"          symmetry "$mlp"

echo "$nruns injected runs, $nfail failed, $(( $(date +%s) - start )) s"
[ "$nfail" -eq 0 ]
