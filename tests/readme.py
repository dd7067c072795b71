#!/usr/bin/env python3
"""The output pasted into the README and the user guide is real.

README.md: every code block that follows a sentence naming a command
(`./build/gradproof VERB CASE ...`) and saying it prints it; docs/guide.md:
every ```text block right after a ```sh block of one command.  The block's
lines must appear, in order, in what the command prints now (stdout, then
stderr); a line "..." or "…" stands for lines left out, and "…" inside
a line for any text.
Usage: readme.py GRADPROOF REPO"""
import re
import shlex
import subprocess
import sys

binary, repo = sys.argv[1], sys.argv[2]

def current(args, block, stdin=None):
    """Does the command still print the block's lines, in order?"""
    r = subprocess.run([binary] + args, cwd=repo, capture_output=True, text=True,
                       stdin=open(f"{repo}/{stdin}") if stdin else subprocess.DEVNULL)
    out = r.stdout.splitlines() + r.stderr.splitlines()
    i = 0
    for line in block:
        if line.strip() in ("...", "…"):
            continue
        # "…" inside a line stands for any text (figures such as a drift that
        # move whenever the random stream does)
        pat = re.compile(".*".join(re.escape(p) for p in line.rstrip().split("…")) + r"\s*")
        while i < len(out) and not pat.fullmatch(out[i]):
            i += 1
        if i == len(out):
            print(f"FAIL readme: `gradproof {' '.join(args)}` no longer prints: {line}")
            return False
        i += 1
    return True


def blocks(lines):
    """(fence info, first line, body) of every fenced block."""
    k = 0
    while k < len(lines):
        if lines[k].startswith("```"):
            end = next(j for j in range(k + 1, len(lines)) if lines[j].startswith("```"))
            yield lines[k][3:].strip(), k, lines[k + 1:end]
            k = end + 1
        else:
            k += 1


passed = failed = 0
readme = open(f"{repo}/README.md", encoding="utf-8").read().split("\n")
for info, k, block in blocks(readme):
    j = k - 1
    while j > 0 and not readme[j].startswith("```") and k - j < 10:
        j -= 1
    prose = " ".join(readme[j + 1:k])
    cmds = re.findall(r"`\./build/gradproof ([^`]+)`", prose)
    if not cmds or not re.search(r"prints|excerpt|among its lines", prose):
        continue
    ok = current(cmds[-1].split(), block)
    passed, failed = passed + ok, failed + (not ok)

guide = open(f"{repo}/docs/guide.md", encoding="utf-8").read().split("\n")
prev = None
for info, k, block in blocks(guide):
    if info == "text" and prev and prev[0] == "sh":
        cmd = [l for l in prev[2] if l.strip() and not l.startswith("#")]
        m = re.match(r"^(?:\./build/)?gradproof (.*?)(?:\s*<\s*(\S+))?\s*(?:#.*)?$", cmd[0]) if len(cmd) == 1 else None
        if m and "|" not in cmd[0]:
            ok = current(shlex.split(m.group(1)), block, m.group(2))
            passed, failed = passed + ok, failed + (not ok)
    prev = (info, k, block)
print(f"readme: {passed} blocks current, {failed} not")
sys.exit(1 if failed or passed == 0 else 0)
