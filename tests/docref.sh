#!/usr/bin/env bash
# The command reference (docs/commands.md) and the user guide (docs/guide.md)
# stay true to the program:
#  - every command listed by `gradproof --help` has a section headed
#    "## `gradproof COMMAND`" in docs/commands.md, with its exit status, and
#    every such section names a real command;
#  - every option a command's --help lists (an indented line starting with
#    --name or -o) appears in that command's section, and every option of
#    `gradproof --help` (the limits, --help, --version) appears outside them;
#  - every option the reference mentions is accepted: in a command's section
#    it must be listed by that command's --help (or be a limit option, or
#    --help), and the program must not refuse it as an unknown option; an
#    option inside a code span or code line that starts with
#    `gradproof OTHER` is checked against OTHER; elsewhere an option must be
#    listed by some --help;
#  - every command shown in a ```sh block of docs/guide.md (a line starting
#    with `gradproof ` or `./build/gradproof `, or piping into one) runs with
#    the exit status its `# exit N` comment gives, and 0 without one.  The
#    commands run in order, in a scratch directory holding a copy of cases/.
# So a renamed or removed option fails on both sides: the --help text no
# longer matches the reference, and the guide's commands stop working.
# Usage: docref.sh GRADPROOF REPO
set -u
bin=$1 repo=$2
export LC_ALL=C.UTF-8
command -v python3 >/dev/null 2>&1 || { echo "FAIL docref: python3 is needed"; echo "0 passed, 1 failed"; exit 1; }
python3 - "$bin" "$repo" <<'EOF'
import os, re, shutil, subprocess, sys, tempfile

bin_path = os.path.abspath(sys.argv[1])
repo = os.path.abspath(sys.argv[2])
passed = failed = 0


def ok():
    global passed
    passed += 1


def bad(msg):
    global failed
    failed += 1
    print("FAIL docref: " + msg)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, encoding="utf-8", errors="replace",
                          stdin=subprocess.DEVNULL, timeout=600, **kw)


OPT_LINE = re.compile(r"^\s+(--[a-z][a-z0-9-]*|-o)(?=[\s=]|$)")
OPT_TOKEN = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-o)(?![\w-])")
VERB_TOKEN = re.compile(r"gradproof\s+([a-z]+)\b")


def help_options(text):
    return [m.group(1) for line in text.splitlines() if (m := OPT_LINE.match(line))]


# --- what the program says --------------------------------------------------
p = run([bin_path, "--help"])
if p.returncode != 0 or not p.stdout:
    bad(f"'gradproof --help' exits {p.returncode}")
main_help = p.stdout
verbs = []
in_commands = False
for line in main_help.splitlines():
    if line.startswith("commands:"):
        in_commands = True
        continue
    if in_commands:
        if not line.strip():
            break
        m = re.match(r"^  ([a-z]+)\s", line)
        if m:
            verbs.append(m.group(1))
if len(verbs) < 2:
    bad(f"cannot read the commands from 'gradproof --help' (found {verbs})")
main_opts = help_options(main_help)
limits = [o for o in main_opts if o not in ("--help", "--version")]
if not limits:
    bad("no limit options found in 'gradproof --help'")

verb_opts = {}
for v in verbs:
    p = run([bin_path, v, "--help"])
    if p.returncode == 0 and p.stdout.startswith("usage: gradproof " + v):
        ok()
    else:
        bad(f"'gradproof {v} --help' exits {p.returncode} or prints no usage line")
    verb_opts[v] = help_options(p.stdout)
    if not verb_opts[v]:
        bad(f"'gradproof {v} --help' lists no options")
all_known = set(main_opts).union(*verb_opts.values()) if verb_opts else set(main_opts)

# --- the reference ----------------------------------------------------------
ref_path = os.path.join(repo, "docs", "commands.md")
try:
    ref = open(ref_path, encoding="utf-8").read()
except OSError as e:
    bad(f"cannot read docs/commands.md: {e}")
    ref = ""

# sections: (heading, verb or None, lines)
sections = [["", None, []]]
for line in ref.splitlines():
    if line.startswith("## "):
        m = re.match(r"^## `gradproof ([a-z]+)`", line)
        sections.append([line, m.group(1) if m else None, []])
        if m and m.group(1) not in verbs:
            bad(f"docs/commands.md has a section for '{m.group(1)}', which 'gradproof --help' does not list")
    else:
        sections[-1][2].append(line)

# every option mention, attributed to a command (or None: general text)
mentions = []  # (section verb, attributed verb, option, line)
for heading, sverb, lines in sections:
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            spans = [line]
        else:
            spans = re.findall(r"`[^`]*`", line)
            spans.append(re.sub(r"`[^`]*`", " ", line))
        for span in spans:
            ctx = sverb
            events = [(m.start(), "verb", m.group(1)) for m in VERB_TOKEN.finditer(span) if m.group(1) in verbs]
            events += [(m.start(), "opt", m.group(1)) for m in OPT_TOKEN.finditer(span)]
            for _, kind, val in sorted(events):
                if kind == "verb":
                    ctx = val
                else:
                    mentions.append((sverb, ctx, val, line.strip()))

section_of = {v: s for s in sections if (v := s[1])}
for v in verbs:
    if v not in section_of:
        bad(f"docs/commands.md has no section '## `gradproof {v}`'")
        continue
    ok()
    text = "\n".join(section_of[v][2])
    if "Exit status" in text:
        ok()
    else:
        bad(f"the section of '{v}' in docs/commands.md does not give its exit status")
    in_section = {o for (sv, av, o, _) in mentions if sv == v and av == v}
    for o in verb_opts.get(v, []):
        if o in in_section:
            ok()
        else:
            bad(f"'gradproof {v} --help' lists {o}, but the section of '{v}' in docs/commands.md does not")

general = {o for (sv, av, o, _) in mentions if av is None}
for o in main_opts:
    if o in general:
        ok()
    else:
        bad(f"'gradproof --help' lists {o}, but docs/commands.md does not describe it outside the command sections")

probed = {}
for sv, av, o, line in mentions:
    if av is None:
        if o in all_known:
            ok()
        else:
            bad(f"docs/commands.md mentions {o}, which no --help lists: {line}")
        continue
    if o in verb_opts.get(av, []) or o in limits or o == "--help":
        ok()
    else:
        bad(f"docs/commands.md gives {o} to '{av}', whose --help does not list it: {line}")
    key = (av, o)
    if key not in probed:
        # the parser must know it: given an option, a command never says
        # "unknown option" (its value, if any, is then '--help', which is
        # refused for other reasons or prints the help)
        p = run([bin_path, av, o, "--help"])
        probed[key] = "unknown option" not in p.stderr
        if probed[key]:
            ok()
        else:
            bad(f"'gradproof {av}' refuses {o}: {p.stderr.strip().splitlines()[0] if p.stderr.strip() else ''}")

# --- the guide --------------------------------------------------------------
guide_path = os.path.join(repo, "docs", "guide.md")
try:
    guide = open(guide_path, encoding="utf-8").read()
except OSError as e:
    bad(f"cannot read docs/guide.md: {e}")
    guide = ""
commands = []
fence = None
for n, line in enumerate(guide.splitlines(), 1):
    s = line.strip()
    if s.startswith("```"):
        fence = None if fence is not None else s[3:].strip()
        continue
    if fence != "sh":
        continue
    if re.match(r"^(\./build/)?gradproof\s", s) or re.search(r"\|\s*(\./build/)?gradproof\s", s):
        m = re.search(r"#\s*exit\s+(\d+)", s)
        commands.append((n, s, int(m.group(1)) if m else 0))
if len(commands) < 5:
    bad(f"found only {len(commands)} commands in the sh blocks of docs/guide.md")

tmp = tempfile.mkdtemp(prefix="docref.")
try:
    os.mkdir(os.path.join(tmp, "bin"))
    os.symlink(bin_path, os.path.join(tmp, "bin", "gradproof"))
    work = os.path.join(tmp, "work")
    shutil.copytree(os.path.join(repo, "cases"), os.path.join(work, "cases"))
    env = dict(os.environ, PATH=os.path.join(tmp, "bin") + os.pathsep + os.environ.get("PATH", ""))
    for n, cmd, want in commands:
        shell = re.sub(r"(^|[\s|(])\./build/gradproof\b", r"\1gradproof", cmd)
        try:
            p = run(["bash", "-c", shell], cwd=work, env=env)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc, p = "timeout", None
        if rc == want:
            ok()
        else:
            bad(f"docs/guide.md:{n}: exit {rc}, the guide says {want}: {cmd}")
            if p is not None and p.stderr.strip():
                print("  " + "\n  ".join(p.stderr.strip().splitlines()[:5]))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
