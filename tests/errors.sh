#!/usr/bin/env bash
# errors.sh -- run the error goldens of tests/errors.test against the CLI.
#
#   bash tests/errors.sh /path/to/gradproof /path/to/repo
#
# For every entry of tests/errors.test (format described at the top of that
# file) the input is written to a temporary file and the binary is run twice:
#
#   gradproof derive FILE [ARGS]                 stderr must equal the %%EXPECT
#       block exactly (the temporary path replaced by INPUT, its directory by
#       DIR), stdout must be empty, the exit status must equal %%EXIT;
#   gradproof derive FILE [ARGS] --format json   stdout must be one JSON
#       document whose "diagnostics" hold at least one error and say the same
#       thing as the text (same "FILE:LINE:COL: error: message" lines), and
#       the exit status must still equal %%EXIT.
#
# One line per failing entry, "FAIL <id> <description>: <what>", then a diff;
# at the end a line "N passed, M failed".  Exit 0 only when all pass.
# Entries marked %%SKIP (known bugs, reported to the lead) are not run; a line
# before the summary lists them.  Run under LC_ALL=C, each run at most 60 s.
#
# GP_UPDATE_GOLDEN=1 rewrites the %%EXPECT and %%EXIT blocks of the file from
# what the binary does now (JSON and stdout checks still apply).  Review the
# resulting diff line by line: a golden pins a message, it does not judge it.
# GP_ERRORS_ONLY=PATTERN runs the entries whose id matches the shell pattern
# (GP_ERRORS_ONLY='build-10.*'); GP_ERRORS_RUN_SKIPPED=1 runs the %%SKIP
# entries too, to see whether a fix has landed.
set -u

if [ $# -ne 2 ]; then
    echo "usage: bash tests/errors.sh /path/to/gradproof /path/to/repo" >&2
    exit 2
fi
bin=$1
repo=$2
golden=$repo/tests/errors.test
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ]; then
    echo "errors.sh: '$bin' is not an executable" >&2
    exit 2
fi
if [ ! -r "$golden" ]; then
    echo "errors.sh: cannot read '$golden'" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "errors.sh: python3 is needed for the JSON checks" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gp-errors.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
update=${GP_UPDATE_GOLDEN:-0}
only=${GP_ERRORS_ONLY:-}
run_skipped=${GP_ERRORS_RUN_SKIPPED:-0}
tmo=()
if command -v timeout >/dev/null 2>&1; then
    tmo=(timeout 60)
fi

# The JSON check: stdout ($1) is one JSON document with at least one error in
# "diagnostics", whose diagnostics rendered as text lines equal the header
# lines of the expected stderr ($2).  $3 is the input path (replaced by INPUT).
json_check='
import json, sys
out, exp, path, dir = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
sub = lambda s: s.replace(path, "INPUT").replace(dir, "DIR")
raw = open(out, "rb").read()
try:
    doc = json.loads(raw.decode("utf-8"))
except (UnicodeDecodeError, ValueError) as e:
    print("stdout is not a single UTF-8 JSON document: %s" % e)
    sys.exit(1)
ds = doc.get("diagnostics") if isinstance(doc, dict) else None
if not isinstance(ds, list):
    print("the JSON document has no \"diagnostics\" array")
    sys.exit(1)
if not any(isinstance(d, dict) and d.get("severity") == "error" for d in ds):
    print("\"diagnostics\" holds no error")
    sys.exit(1)
got = []
for d in ds:
    f = d.get("file")
    pos = "" if f is None else "%s:%s:%s: " % (sub(f), d.get("line"), d.get("column"))
    got.append("gradproof: %s%s: %s" % (pos, d.get("severity"), sub(str(d.get("message")))))
want = [l for l in open(exp, encoding="utf-8", errors="replace").read().split("\n") if l.startswith("gradproof: ")]
if got != want:
    print("the JSON diagnostics differ from the text ones")
    print("        JSON: " + "\n        JSON: ".join(got))
    print("        text: " + "\n        text: ".join(want))
    sys.exit(1)
'

# For %%BYTES entries: stdin as printf %b text (backslashes doubled, control
# bytes and bytes that are not UTF-8 as \xHH; newlines and tabs kept).
escape='
import sys
b = sys.stdin.buffer.read()
out, i = [], 0
while i < len(b):
    c = b[i]
    n = 1 if c < 0x80 else 2 if 0xC2 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else 4 if 0xF0 <= c < 0xF5 else 0
    if n > 1:
        try:
            out.append(b[i:i + n].decode("utf-8"))
            i += n
            continue
        except UnicodeDecodeError:
            n = 0
    if c == 0x5C:
        out.append("\\\\")
    elif c in (0x09, 0x0A) or (n == 1 and 0x20 <= c < 0x7F):
        out.append(chr(c))
    else:
        out.append("\\x%02x" % c)
    i += 1
sys.stdout.buffer.write("".join(out).encode("utf-8"))
'

# ---- read the golden file ----
mapfile -t L <"$golden"
nl=${#L[@]}
declare -a ids descs args nofile bytes skip inputs expects exits e_start e_end aux
declare -A seen
n=0
i=0
bad_file=0
while [ "$i" -lt "$nl" ]; do
    line=${L[$i]}
    if [[ $line != %%FAIL\ * ]]; then
        if [[ -n $line && $line != \#* ]]; then
            echo "errors.test:$((i + 1)): expected '%%FAIL id description', a comment or a blank line" >&2
            bad_file=1
        fi
        i=$((i + 1))
        continue
    fi
    rest=${line#%%FAIL }
    id=${rest%% *}
    desc=${rest#"$id"}
    desc=${desc# }
    if [ -n "${seen[$id]:-}" ]; then
        echo "errors.test:$((i + 1)): duplicate id '$id' (first at line ${seen[$id]})" >&2
        bad_file=1
    fi
    seen[$id]=$((i + 1))
    ids[n]=$id
    descs[n]=$desc
    args[n]=""
    nofile[n]=0
    bytes[n]=0
    skip[n]=""
    aux[n]=""
    input=""
    i=$((i + 1))
    # directives, then the input up to %%EXPECT
    while [ "$i" -lt "$nl" ] && [[ ${L[$i]} != %%EXPECT ]]; do
        case ${L[$i]} in
        %%ARGS\ *) args[n]=${L[$i]#%%ARGS } ;;
        %%NOFILE) nofile[n]=1 ;;
        %%AUX\ *) aux[n]+=${L[$i]#%%AUX }$'\n' ;;
        %%BYTES) bytes[n]=1 ;;
        %%SKIP*) skip[n]=${L[$i]#%%SKIP}; skip[n]=${skip[n]# }; [ -n "${skip[n]}" ] || skip[n]="(no reason given)" ;;
        %%FAIL\ * | %%EXIT*)
            echo "errors.test:$((i + 1)): entry '$id' has no %%EXPECT" >&2
            bad_file=1
            break
            ;;
        '') [ -z "$input" ] || input+=$'\n' ;; # blank lines before the case are ignored
        *) input+=${L[$i]}$'\n' ;;
        esac
        i=$((i + 1))
    done
    inputs[n]=$input
    i=$((i + 1))
    e_start[n]=$i
    expect=""
    while [ "$i" -lt "$nl" ] && [[ ${L[$i]} != %%EXIT* ]]; do
        if [[ ${L[$i]} == %%FAIL\ * ]]; then
            echo "errors.test:$((i + 1)): entry '$id' has no %%EXIT" >&2
            bad_file=1
            break
        fi
        expect+=${L[$i]}$'\n'
        i=$((i + 1))
    done
    expects[n]=$expect
    e_end[n]=$i
    exits[n]=${L[$i]#%%EXIT }
    if ! [[ ${exits[n]} =~ ^[0-9]+$ ]]; then
        echo "errors.test:$((i + 1)): entry '$id': expected '%%EXIT <status>'" >&2
        bad_file=1
    fi
    i=$((i + 1))
    n=$((n + 1))
done
if [ $bad_file -ne 0 ]; then
    echo "errors.sh: $golden is malformed" >&2
    exit 2
fi

# ---- run ----
pass=0
fail=0
nskip=0
skipped=""
declare -a actual actual_exit
for ((k = 0; k < n; k++)); do
    id=${ids[k]}
    # shellcheck disable=SC2053 # $only is a pattern on purpose
    if [ -n "$only" ] && [[ $id != $only ]]; then
        continue
    fi
    if [ -n "${skip[k]}" ] && [ "$run_skipped" != 1 ]; then
        nskip=$((nskip + 1))
        skipped+=" $id"
        continue
    fi
    dir=$tmp/$k
    mkdir -p "$dir"
    if [ "${nofile[k]}" = 1 ]; then
        in=$dir/does-not-exist.case
    else
        in=$dir/input.case
        if [ "${bytes[k]}" = 1 ]; then
            printf '%b' "${inputs[k]}" >"$in"
        else
            printf '%s' "${inputs[k]}" >"$in"
        fi
    fi
    # auxiliary files: "%%AUX name text", the text decoded with printf %b
    while IFS= read -r a; do
        [ -n "$a" ] || continue
        t=""
        [[ $a == *" "* ]] && t=${a#* }
        printf '%b' "$t" >"$dir/${a%% *}"
    done <<<"${aux[k]}"
    read -r -a extra <<<"${args[k]}"
    if [ "${bytes[k]}" = 1 ]; then
        printf '%b' "${expects[k]}" >"$dir/expected"
    else
        printf '%s' "${expects[k]}" >"$dir/expected"
    fi

    # text run
    (cd "$dir" && "${tmo[@]}" "$bin" derive "$in" "${extra[@]}" >"$dir/stdout" 2>"$dir/stderr.raw")
    st=$?
    # replace the path by INPUT and its directory by DIR (literals, escaped for sed)
    pat=$(printf '%s' "$in" | sed 's/[][\.*^$/]/\\&/g')
    dpat=$(printf '%s' "$dir" | sed 's/[][\.*^$/]/\\&/g')
    sed -e "s/$pat/INPUT/g" -e "s/$dpat/DIR/g" "$dir/stderr.raw" >"$dir/stderr"
    if [ "${bytes[k]}" = 1 ]; then
        # written back with printf %b escapes for what is not UTF-8 text
        actual[k]=$(python3 -c "$escape" <"$dir/stderr"; echo x)
    else
        actual[k]=$(cat "$dir/stderr"; echo x)
    fi
    actual[k]=${actual[k]%x}
    actual_exit[k]=$st
    why=()
    if [ "$update" != 1 ]; then
        if ! cmp -s "$dir/expected" "$dir/stderr"; then
            why+=("stderr differs (--- expected, +++ actual)")
        fi
        if [ "$st" != "${exits[k]}" ]; then
            why+=("exit status $st, expected ${exits[k]}")
        fi
    fi
    if [ -s "$dir/stdout" ]; then
        why+=("stdout is not empty: $(head -c 200 "$dir/stdout")")
    fi

    # JSON run
    (cd "$dir" && "${tmo[@]}" "$bin" derive "$in" "${extra[@]}" --format json >"$dir/json" 2>"$dir/json.err")
    jst=$?
    if [ "$jst" != "${exits[k]}" ] && ! { [ "$update" = 1 ] && [ "$jst" = "$st" ]; }; then
        why+=("--format json: exit status $jst, expected ${exits[k]}")
    fi
    # compare with the text diagnostics as they should be (or are, when updating)
    ref=$dir/expected
    [ "$update" = 1 ] && ref=$dir/stderr
    if ! jmsg=$(python3 -c "$json_check" "$dir/json" "$ref" "$in" "$dir" 2>&1); then
        why+=("--format json: $jmsg")
    fi

    if [ ${#why[@]} -eq 0 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $id ${descs[k]}: ${why[0]}"
        for w in "${why[@]:1}"; do
            echo "    also: $w"
        done
        if ! cmp -s "$dir/expected" "$dir/stderr" && [ "$update" != 1 ]; then
            diff -u --label expected --label actual "$dir/expected" "$dir/stderr" | sed 's/^/    /'
        fi
    fi
done

# ---- regenerate ----
if [ "$update" = 1 ]; then
    out=$tmp/errors.test.new
    : >"$out"
    pos=0
    for ((k = 0; k < n; k++)); do
        if [ -z "${actual_exit[k]+x}" ] || [ -n "${skip[k]}" ]; then
            continue # skipped or filtered: keep as written
        fi
        # copy up to the expectation, then the new expectation and status
        for ((j = pos; j < e_start[k]; j++)); do
            printf '%s\n' "${L[$j]}" >>"$out"
        done
        printf '%s' "${actual[k]}" >>"$out"
        printf '%%%%EXIT %s\n' "${actual_exit[k]}" >>"$out"
        pos=$((e_end[k] + 1))
    done
    for ((j = pos; j < nl; j++)); do
        printf '%s\n' "${L[$j]}" >>"$out"
    done
    if cmp -s "$out" "$golden"; then
        echo "errors.test: expectations unchanged"
    else
        cp "$out" "$golden"
        echo "errors.test: expectations rewritten; review every changed message (git diff tests/errors.test)"
    fi
fi

if [ $nskip -gt 0 ]; then
    echo "$nskip skipped (known bugs, see %%SKIP):$skipped"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
