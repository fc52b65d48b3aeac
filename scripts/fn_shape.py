#!/usr/bin/env python3
"""Functions in production Rust code that are too long or nested too deep.

`make lint` runs it: no function over 80 lines, no block nested more than 5 levels
inside its function. Production code is every `src/` folder outside `tests/`, `sim/`
and `#[cfg(test)]` modules. Lines are counted from `fn` to its closing brace; nesting
counts `{` blocks opened inside the body (closures, match arms, struct literals too),
the body itself being level 0. Strings, chars and comments are skipped.
"""
import re
import sys
from pathlib import Path

MAX_LINES = 80
MAX_DEPTH = 5
SKIP = ("tests/", "sim/", "target/", ".venv/")


def strip(text):
    """The text with string, char and comment contents blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            close = '"' + m.group(1)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1])); i = j + 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^'\\])'", text[i:i + 12]):
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:i + 12])
            out.append(" " * len(m.group(0))); i += len(m.group(0))
        else:
            out.append(c); i += 1
    return "".join(out)


def test_ranges(src):
    """Line ranges of `#[cfg(test)]` items."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", src):
        start = src.count("\n", 0, m.start())
        brace = src.find("{", m.end())
        depth, j = 0, brace
        while j < len(src):
            if src[j] == "{":
                depth += 1
            elif src[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        ranges.append((start, src.count("\n", 0, j)))
    return ranges


def check(path):
    src = strip(path.read_text())
    tests = test_ranges(src)
    found = []
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", src):
        line = src.count("\n", 0, m.start())
        if any(a <= line <= b for a, b in tests):
            continue
        # The body: the first `{` after the signature, unless a `;` ends it first.
        j = m.end()
        paren = 0
        while j < len(src):
            ch = src[j]
            if ch in "(<[":
                paren += 1
            elif ch in ")>]":
                paren -= 1
            elif ch == ";" and paren <= 0:
                j = -1
                break
            elif ch == "{" and paren <= 0:
                break
            j += 1
        if j < 0 or j >= len(src):
            continue
        depth, deepest, k = 0, 0, j
        while k < len(src):
            ch = src[k]
            if ch == "{":
                depth += 1
                deepest = max(deepest, depth - 1)
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        lines = src.count("\n", m.start(), k) + 1
        if lines > MAX_LINES or deepest > MAX_DEPTH:
            found.append((path, line + 1, m.group(1), lines, deepest))
    return found


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    bad = []
    for p in sorted(root.rglob("*.rs")):
        rel = p.relative_to(root).as_posix()
        if "/src/" not in "/" + rel or any(s in "/" + rel for s in ("/" + x for x in SKIP)) or rel.startswith(SKIP):
            continue
        bad += check(p)
    for path, line, name, lines, depth in bad:
        print(f"{path.relative_to(root)}:{line}: fn {name}: {lines} lines, nesting {depth}")
    if bad:
        print(f"{len(bad)} function(s) over {MAX_LINES} lines or nested over {MAX_DEPTH} levels", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
