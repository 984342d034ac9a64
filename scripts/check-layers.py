#!/usr/bin/env python3
"""Checks the crate's layering (docs/ARCHITECTURE.md, "Layers").

Each top-level module of `src/` has a layer. A file may name modules of its own layer or of a
layer below it, and must name them by module path (`crate::recorder::Histogram`), not through
the crate root's re-exports (`crate::Histogram`), so that a reader sees the layering in the
imports. Sibling files of one module must not import each other both ways (a circle).

Usage: check-layers.py [SRC_DIR]   (default: src beside this script's parent)
Exit status 0 when the tree keeps the rules, 1 with one line per violation otherwise.
"""

import os
import re
import sys

# Layer of each top-level module; a module may use only its own layer and those below.
LAYERS = {
    "sync": 1,
    "clock": 2,
    "recorder": 3,
    "registry": 4,
    "instrument": 5,
    "report": 6,
    "load": 6,
    "expose": 7,
    "export": 7,
    "integrations": 8,
    # The list of every layer's family declarations (`perf_instrument::catalogue()`).
    "catalogue": 9,
}
# Files outside the layering: the table of contents, and the command line.
EXEMPT_TOP = {"lib.rs", "main.rs", "bin"}

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{)?")


def strip_comments(text):
    """Removes `//` comments (doc comments included), block comments and string literals."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "r" and re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + len(hashes) + 2)
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def brace_items(text, start):
    """Top-level paths inside the `{...}` that opens at `start`."""
    depth, i, item, items = 0, start, "", []
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth > 1:
                item += c
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(item)
                break
            item += c
        elif c == "," and depth == 1:
            items.append(item)
            item = ""
        else:
            item += c
        i += 1
    return [re.split(r"::|\{|\s", it.strip())[0] for it in items if it.strip()]


def module_path(src, file):
    rel = os.path.relpath(file, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def check(src):
    errors = []
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            if name.endswith(".rs"):
                files.append(os.path.join(root, name))
    sibling_uses = {}
    for file in files:
        rel = os.path.relpath(file, src)
        top = rel.split(os.sep)[0]
        if top in EXEMPT_TOP or rel in EXEMPT_TOP:
            continue
        top_mod = top[:-3] if top.endswith(".rs") else top
        if top_mod not in LAYERS:
            errors.append(f"{rel}: module `{top_mod}` has no layer in scripts/check-layers.py")
            continue
        layer = LAYERS[top_mod]
        here = module_path(src, file)
        is_mod_file = file.endswith("mod.rs") or os.path.dirname(rel) == ""
        code = strip_comments(open(file, encoding="utf-8").read())
        for m in PATH_RE.finditer(code):
            head, rest, brace = m.group(1), m.group(2), m.group(3)
            segs = [s for s in rest.split("::") if s]
            # Resolve to an absolute module path (list of segments after the crate root).
            if head == "crate":
                base = []
            else:
                # `self` is the current module; each `super` goes one up. A non-mod file's
                # own module is its file.
                base = list(here)
                if head == "super":
                    base = base[:-1]
                while segs and segs[0] == "super":
                    base = base[:-1]
                    segs = segs[1:]
            targets = []
            if brace and not segs and not base:
                targets = [[t] for t in brace_items(code, m.end() - 1)]
            else:
                targets = [base + segs]
            for target in targets:
                line = code.count("\n", 0, m.start()) + 1
                if not target:
                    continue
                first = target[0]
                if first in ("self", "super"):
                    continue
                if first not in LAYERS:
                    if first[:1].isupper() or first.isupper() or first in ("__private", "__loom"):
                        errors.append(
                            f"{rel}:{line}: `{first}` is named through the crate root; "
                            f"import it from its module"
                        )
                    continue
                if LAYERS[first] > layer:
                    errors.append(
                        f"{rel}:{line}: layer {layer} (`{top_mod}`) names `{first}`, "
                        f"of layer {LAYERS[first]} above it"
                    )
                # Sibling imports, for the circle check.
                parent = here[:-1] if not is_mod_file else here
                if (
                    not is_mod_file
                    and len(target) > len(parent)
                    and target[: len(parent)] == parent
                    and target[len(parent)] != here[-1]
                ):
                    sibling = target[len(parent)]
                    sibling_uses.setdefault(tuple(here), set()).add(tuple(parent + [sibling]))
    for a, uses in sorted(sibling_uses.items()):
        for b in sorted(uses):
            if a < b and a in sibling_uses.get(b, set()):
                errors.append(
                    f"{'/'.join(a)}.rs and {'/'.join(b)}.rs import each other; "
                    f"move what both need below them"
                )
    return errors


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src"
    )
    errors = check(src)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} layering violation(s); see docs/ARCHITECTURE.md, \"Layers\"")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
