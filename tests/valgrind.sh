#!/usr/bin/env bash
# valgrind.sh -- the CLI test scripts once more, every gradproof run under
# valgrind's memcheck: an invalid read or write, a jump on an uninitialised
# value, a bad free, or a definite or indirect leak at exit fails.
#
#   bash tests/valgrind.sh /path/to/gradproof /path/to/repo
#
# A wrapper script, made in a temporary directory under the name gradproof,
# writes its command line and working directory to LOGDIR/cmd.ID and execs
#   valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
#     --errors-for-leak-kinds=definite,indirect
#     --show-leak-kinds=definite,indirect --track-origins=no -q
#     --log-file=LOGDIR/vg.ID.%p.log GRADPROOF "$@"
# ID is the wrapper's PID and the time in microseconds (PIDs are reused; exec
# keeps the PID, so the log whose %p is the ID's PID is the command's own, any
# other one a child's: gradproof forks for Graphviz's dot).  The exit status
# is gradproof's own unless valgrind found an error: then 99.
# The chosen test scripts run with the wrapper as GRADPROOF, two at a time.
# check.sh looks for gradproof_mutant next to GRADPROOF: when it is next to
# the real binary it gets a wrapper of its own next to the wrapper.
#
# Afterwards every non-empty log is a failure (with -q valgrind writes only
# errors, and only definite and indirect leaks are shown): its command line
# and first lines are printed.  A test script that fails under valgrind fails
# too (its FAIL lines are printed).  Exit 0 when clean, 1 otherwise, 77
# (skip) when valgrind is not installed.
#
# Environment:
#   GP_VALGRIND_SCRIPTS  what to run, longest first: names of tests/NAME.sh;
#                        errors:PATTERN runs errors.sh with
#                        GP_ERRORS_ONLY=PATTERN, so that its 150 entries (two
#                        runs each, and memcheck's start costs about a second
#                        of CPU) are split over both jobs.  Default:
#                        errors:build-* errors:!(build-*) cli golden dot
#                        (check.sh, some 6 minutes of CPU, and claims.sh are
#                        left out to keep the step near 6 minutes)
#   GP_VALGRIND_JOBS     scripts run at the same time (default 2)
#   GP_DEEP_N            dot.sh's chain length; 2000 unless set (its default
#                        of 10^5 takes minutes under memcheck, and the stack
#                        depth is the ASan pass's business)
#   GP_VALGRIND_SUPP     a suppressions file (default tests/valgrind.supp,
#                        used when it exists: third-party libraries only)
#   GP_VALGRIND_KEEP     1: keep the temporary directory (wrappers, logs,
#                        each script's output) and say where it is
set -u

if [ $# -ne 2 ]; then
    echo "usage: bash tests/valgrind.sh /path/to/gradproof /path/to/repo" >&2
    exit 2
fi
vg=$(command -v valgrind) || {
    echo "SKIP: valgrind is not installed (apt-get install valgrind)"
    exit 77
}
bin=$1 repo=$2
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
repo=$(cd "$repo" && pwd) || exit 2
if [ ! -x "$bin" ]; then
    echo "valgrind.sh: '$bin' is not an executable" >&2
    exit 2
fi
scripts=${GP_VALGRIND_SCRIPTS:-'errors:build-* errors:!(build-*) cli golden dot'}
jobs=${GP_VALGRIND_JOBS:-2}
supp=${GP_VALGRIND_SUPP:-$repo/tests/valgrind.supp}
: "${GP_DEEP_N:=2000}"
export GP_DEEP_N

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gp-valgrind.XXXXXX") || exit 2
if [ "${GP_VALGRIND_KEEP:-0}" = 1 ]; then
    echo "valgrind.sh: wrappers, logs and the scripts' output kept in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
mkdir "$tmp/bin" "$tmp/logs" "$tmp/out"
logs=$tmp/logs

vgopts=(--tool=memcheck --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --track-origins=no -q)
[ -f "$supp" ] && vgopts+=("--suppressions=$supp")

# wrapper NAME REAL: $tmp/bin/NAME runs REAL under valgrind.  /bin/bash, not
# env: dot.sh runs the binary with an empty PATH.  Only builtins before exec.
wrapper() {
    {
        echo '#!/bin/bash'
        echo '# made by tests/valgrind.sh: run gradproof under memcheck, log the command'
        echo 'id=$$-${EPOCHREALTIME//[!0-9]/}'
        printf 'printf "%%q " %q "$@" >%q/cmd.$id\n' "$2" "$logs"
        printf 'printf "\\n(in %%s)\\n" "$PWD" >>%q/cmd.$id\n' "$logs"
        printf 'exec %q' "$vg"
        printf ' %q' "${vgopts[@]}"
        printf ' --log-file=%q/vg.$id.%%p.log %q "$@"\n' "$logs" "$2"
    } >"$tmp/bin/$1"
    chmod +x "$tmp/bin/$1"
}
wrapper gradproof "$bin"
# check.sh runs the planted-bug binary found next to GRADPROOF
mutant=$(dirname "$bin")/gradproof_mutant
[ -x "$mutant" ] && wrapper gradproof_mutant "$mutant"

echo "valgrind.sh: $("$vg" --version), scripts: $scripts (GP_DEEP_N=$GP_DEEP_N)"

# ---- run the scripts, $jobs at a time ----
set -f # the items hold patterns
items=($scripts)
set +f
start=$SECONDS
running=0
for k in "${!items[@]}"; do
    s=${items[k]%%:*}
    only=
    [[ ${items[k]} == *:* ]] && only=${items[k]#*:}
    if [ ! -f "$repo/tests/$s.sh" ]; then
        echo "no tests/$s.sh" >"$tmp/out/$k.txt"
        echo 2 >"$tmp/out/$k.rc"
        continue
    fi
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    (
        t0=$SECONDS
        [ -z "$only" ] || export GP_ERRORS_ONLY=$only
        bash "$repo/tests/$s.sh" "$tmp/bin/gradproof" "$repo" >"$tmp/out/$k.txt" 2>&1 </dev/null
        echo $? >"$tmp/out/$k.rc"
        # wall and CPU seconds (times: the children's user and system time)
        times >"$tmp/out/$k.times"
        awk -v w=$((SECONDS - t0)) 'function s(t) { split(t, a, /[ms]/); return a[1] * 60 + a[2] }
            END { printf "%d s, %d s CPU", w, s($1) + s($2) }' "$tmp/out/$k.times" >"$tmp/out/$k.secs"
    ) &
    running=$((running + 1))
done
wait

# ---- the scripts' verdicts ----
failed=0
for k in "${!items[@]}"; do
    s=${items[k]%%:*}.sh
    [[ ${items[k]} == *:* ]] && s="$s [GP_ERRORS_ONLY=${items[k]#*:}]"
    rc=$(cat "$tmp/out/$k.rc" 2>/dev/null || echo "?")
    summary=$(tail -n 1 "$tmp/out/$k.txt" 2>/dev/null)
    secs=$(cat "$tmp/out/$k.secs" 2>/dev/null || echo "not run")
    case $rc in
    0) echo "ok   $s ($secs): $summary" ;;
    77) echo "skip $s: $summary" ;;
    *)
        echo "FAIL $s exited $rc under valgrind ($secs):"
        grep -E '^FAIL|^ ' "$tmp/out/$k.txt" | head -n 30 | sed 's/^/    /'
        echo "    ... $summary"
        failed=$((failed + 1))
        ;;
    esac
done

# ---- the logs ----
runs=$(find "$logs" -name 'cmd.*' | wc -l)
nbad=0
for log in "$logs"/vg.*.log; do
    [ -s "$log" ] || continue
    nbad=$((nbad + 1))
    # vg.ID.PID.log, ID = the wrapper's PID-MICROSECONDS (PIDs wrap)
    id=${log##*/vg.}
    id=${id%.log}
    pid=${id##*.}
    id=${id%.*}
    echo "VALGRIND $(basename "$log"):"
    if [ "$pid" = "${id%%-*}" ] && [ -f "$logs/cmd.$id" ]; then
        sed 's/^/    $ /;2,$s/^    \$ /      /' "$logs/cmd.$id"
    else
        # a process forked by gradproof (posix_spawnp of Graphviz's dot)
        echo "    (no command line: a child process that gradproof forked)"
    fi
    head -n 60 "$log" | sed 's/^/    /'
    [ "$(wc -l <"$log")" -le 60 ] || echo "    ... ($(wc -l <"$log") lines)"
done
echo "valgrind.sh: $runs gradproof runs under valgrind in $((SECONDS - start)) s, $nbad with errors or leaks, $failed scripts failed"
[ $nbad -eq 0 ] && [ $failed -eq 0 ]
