#!/usr/bin/env python3
"""Checks the layout rules of docs/ARCHITECTURE.md and prints what breaks them:

1. no import loop between the files of gateway/src (a file's imports are the `crate::`, `super::` and
   `self::` paths in its non-test code, resolved to the file that defines the module; a `mod.rs` that only
   re-exports its children with `pub use` does not depend on them);
2. no import from a lower layer into a higher one (LAYERS below, highest first);
3. no file of code over MAX_LINES lines, tests aside (a `tests.rs`/`tests/` file, or the part of a file
   from its `#[cfg(test)]` test module on, is not counted), in every crate of the repository;
4. no reference to a `shared/` folder outside the repository.

Usage: scripts/check-layout.py [--graph]   (--graph also prints every file's imports)
Exit status 0 when every rule holds, 1 otherwise.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "gateway" / "src"
MAX_LINES = 700

# Top-level modules of the gateway crate, highest layer first. A module may import from its own layer's
# module and from any lower layer; modules that share a layer may not import each other.
LAYERS = [
    ["main", "lib", "cli"],
    ["http"],
    ["delivery", "reporting"],
    ["plugins"],
    ["store"],
    ["scim"],
    ["config"],
    ["telemetry", "clock"],
]
LAYER_OF = {m: i for i, ms in enumerate(LAYERS) for m in ms}

# Crates whose code files are held to MAX_LINES.
CODE_DIRS = ["gateway/src", "tests", "bench/src", "sims", "plugins"]
SKIP_PARTS = {"target", "node_modules", ".git"}


def module_of(path: Path) -> tuple:
    """gateway/src/a/b.rs -> ("a", "b"); a/mod.rs -> ("a",); lib.rs -> ("lib",)."""
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(text: str) -> str:
    """The code before the first `#[cfg(test)]` (the test module sits at the end of a file by convention)."""
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def main() -> int:
    show_graph = "--graph" in sys.argv
    files = {}
    for p in sorted(SRC.rglob("*.rs")):
        if p.name == "tests.rs" or "tests" in p.relative_to(SRC).parts[:-1]:
            continue
        files[module_of(p)] = p
    modules = set(files)

    # Re-exports: (module, name) -> the module the name comes from, so that an import through a facade
    # (`crate::http::ApiError`, re-exported from `http/error.rs`) counts as an import of the defining file.
    reexports = {}
    for mod, p in files.items():
        here = mod if p.name == "mod.rs" or mod == ("lib",) else mod[:-1]
        if mod == ("lib",):
            here = ()
        for m in re.finditer(r"^\s*pub(?:\([^)]*\))?\s+use\s+([\w:]+?)::(\{[^}]*\}|\w+)\s*;", strip_tests(p.read_text()), re.M):
            src = m.group(1).split("::")
            names = [n.strip().split(" as ")[-1].strip() for n in m.group(2).strip("{}").split(",") if n.strip()]
            if src[0] == "crate":
                src_base = ()
                src = src[1:]
            elif src[0] == "self":
                src_base, src = here, src[1:]
            elif src[0] == "super":
                src_base, src = here[:-1], src[1:]
            else:
                src_base = here
            for n in names:
                reexports[(mod, n)] = (src_base, src)

    def resolve(base: tuple, path: list, depth: int = 0) -> tuple | None:
        """The file that defines base+path: its longest module prefix, through re-exports."""
        full = list(base) + path
        for n in range(len(full), 0, -1):
            prefix = tuple(full[:n])
            if prefix in modules:
                if n < len(full) and (prefix, full[n]) in reexports and depth < 8:
                    src_base, src = reexports[(prefix, full[n])]
                    return resolve(src_base, src + [full[n]], depth + 1) or prefix
                return prefix
        return None

    edges = {m: set() for m in modules}
    for mod, p in files.items():
        text = strip_comments(strip_tests(p.read_text()))
        is_dir_mod = p.name == "mod.rs"
        here = mod if is_dir_mod else mod[:-1]  # the module `self::`/child paths are relative to
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, flags=re.M))
        inline, depth = [], 0  # inline `mod x { … }` blocks the current line is in, and the brace depth
        for line in text.splitlines():
            opened = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{", line)
            if opened:
                inline.append((opened.group(1), depth))
            depth += line.count("{") - line.count("}")
            while inline and depth <= inline[-1][1]:
                inline.pop()
            scope = mod + tuple(n for n, _ in inline)
            reexport = re.match(r"\s*pub(?:\([^)]*\))?\s+use\s", line)
            for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", line):
                root, rest = m.group(1), m.group(2).split("::")[1:]
                if root == "crate":
                    base = ()
                elif root == "self":
                    base = scope
                else:
                    base = scope[:-1]
                    while rest and rest[0] == "super":
                        base, rest = base[:-1], rest[1:]
                target = resolve(base, rest)
                if target and target != mod:
                    if reexport and target[: len(mod)] == mod and is_dir_mod:
                        continue
                    edges[mod].add(target)
            if not reexport and mod != ("lib",):
                for c in children:
                    if re.search(rf"\b{c}::", line) and not re.search(rf"(crate|super|self)::{c}::", line):
                        target = resolve(here, [c])
                        if target and target != mod:
                            edges[mod].add(target)

    problems = []

    # 1. loops (strongly connected components of more than one file)
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            strong(v)
    name = lambda m: "/".join(m) or "lib"  # noqa: E731
    for comp in sccs:
        problems.append("import loop: " + " <-> ".join(sorted(name(m) for m in comp)))

    # 2. upward imports between top-level modules
    for a, targets in sorted(edges.items()):
        for b in sorted(targets):
            ta, tb = a[0], b[0]
            if ta == tb or ta not in LAYER_OF or tb not in LAYER_OF:
                if ta not in LAYER_OF or tb not in LAYER_OF:
                    problems.append(f"module without a layer: {name(a)} -> {name(b)} (add it to LAYERS)")
                continue
            if LAYER_OF[ta] > LAYER_OF[tb]:
                problems.append(f"upward import: {name(a)} -> {name(b)}")
            elif LAYER_OF[ta] == LAYER_OF[tb]:
                problems.append(f"sideways import between {ta} and {tb}: {name(a)} -> {name(b)}")

    # 3. file sizes
    sizes = []
    for d in CODE_DIRS:
        for p in sorted((ROOT / d).rglob("*.rs")):
            rel = p.relative_to(ROOT)
            if SKIP_PARTS & set(rel.parts) or p.name == "tests.rs" or "tests" in rel.parts[2:-1]:
                continue
            if rel.parts[0] == "tests" and (len(rel.parts) == 2 or rel.parts[1] != "common"):
                # the integration suite's scenario files are tests; its harness (tests/common) is code
                continue
            n = strip_tests(p.read_text()).count("\n")
            sizes.append((n, rel))
            if n > MAX_LINES:
                problems.append(f"file over {MAX_LINES} lines of code: {rel} ({n})")

    # 4. references to a folder that is not part of the repository
    for p in sorted(ROOT.rglob("*")):
        rel = p.relative_to(ROOT)
        if not p.is_file() or SKIP_PARTS & set(rel.parts) or p.suffix not in {".rs", ".md", ".sh", ".toml", ".py", ".wit"}:
            continue
        if p == Path(__file__).resolve():
            continue
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if re.search(r"(\.\./shared\b|\bshared/(spec|design|guides|reviews|seeds)\b)", line):
                problems.append(f"reference outside the repository: {rel}:{i}")

    if show_graph:
        for a in sorted(edges):
            print(f"{name(a)} -> {', '.join(sorted(name(b) for b in edges[a])) or '-'}")
        print()
    biggest = sorted(sizes, reverse=True)[:5]
    print(f"{len(files)} files in gateway/src, {sum(len(e) for e in edges.values())} imports between them; "
          f"largest code files: " + ", ".join(f"{r} {n}" for n, r in biggest))
    for line in problems:
        print(line)
    print("layout: ok" if not problems else f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
