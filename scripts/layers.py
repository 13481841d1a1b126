#!/usr/bin/env python3
"""Module layering of a Rust crate's src/ at a git commit.

usage: layers.py REPO COMMIT... [--no-tests] [--no-parent-child]

--no-parent-child drops every edge from a module file to a file of its own
submodules (parent.rs -> parent/child.rs, e.g. `pub use child::X`), not just
the `mod child;` declaration: with it, a child that uses its parent's items does
not form a "cycle" with the parent that re-exports it. Issue 12's "4 cycles"
was measured this way.

Reads files with `git show COMMIT:path` (no checkout). For every .rs file under
src/ it collects crate-internal references:
  * `use` trees starting with crate::, super::, self::, a child module name, or
    (in main.rs) the library crate name;
  * paths in code: crate::a::b, super::x, self::x, and <alias>::x where alias
    was bound by a `use` of a module (e.g. `use crate::limits;` then
    `limits::check::X`);
and maps each to the deepest existing module file (src/a/b.rs, src/a/b/mod.rs,
src/a.rs). `super` is resolved against inline `mod x { ... }` blocks too.
`mod child;` declarations (parent -> child) are not edges. Comments and string
literals are stripped first. Test code (#[cfg(test)] modules, tests.rs files)
is included unless --no-tests is given.
"""
import re, subprocess, sys
from collections import defaultdict

LIB_NAME = "tollgate"
# layer rank by top-level module (bottom = 0). error.rs and procfs.rs are not
# named in issue 12; placed where their users sit (see report).
LAYERS = [
    ["base", "procfs"],
    ["config", "lean"],
    ["store", "auth", "telemetry"],
    ["llm", "limits", "routing"],
    ["mcp"],
    ["snapshot"],
    ["proxy", "error"],
    ["admin", "master", "worker", "cli"],
    ["main", "lib"],
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}

def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True,
                          capture_output=True, text=True).stdout

def strip(src):
    """Blank out comments, string and char literals (keep offsets/newlines)."""
    out, i, n = [], 0, len(src)
    def blank(s): return "".join(c if c == "\n" else " " for c in s)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i); j = n if j < 0 else j
            out.append(blank(src[i:j])); i = j
        elif src.startswith("/*", i):
            d, j = 1, i + 2
            while j < n and d:
                if src.startswith("/*", j): d += 1; j += 2
                elif src.startswith("*/", j): d -= 1; j += 2
                else: j += 1
            out.append(blank(src[i:j])); i = j
        elif (c in "rb") and re.match(r'(br|r)#*"', src[i:i+40]) and (i == 0 or not (src[i-1].isalnum() or src[i-1] == "_")):
            m = re.match(r'(br|r)(#*)"', src[i:])
            end = '"' + m.group(2)
            j = src.find(end, i + m.end()); j = n if j < 0 else j + len(end)
            out.append(blank(src[i:j])); i = j
        elif c == '"' :
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(blank(src[i:j+1])); i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", src[i:])
            if m: out.append(blank(m.group(0))); i += m.end()
            else: out.append(c); i += 1   # lifetime
        else:
            out.append(c); i += 1
    return "".join(out)

def file_module(path):
    p = path[len("src/"):-len(".rs")]
    if p in ("lib", "main"): return []
    parts = p.split("/")
    if parts[-1] == "mod": parts = parts[:-1]
    return parts

def parse_use_tree(s):
    """'a::{b, c::d@e, f::*}' -> [['a','b'], ['a','c','d@e'], ['a','f','*']] (`as` already
    rewritten to '@' by use_items)."""
    s = re.sub(r"\s+", "", s)
    res = []
    def split_top(t):
        parts, d, cur = [], 0, ""
        for ch in t:
            if ch == "{": d += 1
            if ch == "}": d -= 1
            if ch == "," and d == 0: parts.append(cur); cur = ""
            else: cur += ch
        if cur: parts.append(cur)
        return parts
    def walk(prefix, t):
        if not t: return
        if t.startswith("{") or ("::{" in t and t.endswith("}")):
            if t.startswith("{"): head, body = "", t[1:-1]
            else:
                k = t.index("::{"); head, body = t[:k], t[k+3:-1]
            pre = prefix + [x for x in head.split("::") if x]
            for part in split_top(body): walk(pre, part)
            return
        res.append(prefix + t.split("::"))
    walk([], s)
    return res

def use_items(stmt):
    # handle `as` before whitespace removal
    stmt = re.sub(r"\s+as\s+(\w+)", r"@\1", stmt)
    items = []
    for segs in parse_use_tree(stmt):
        alias = None
        if segs and "@" in segs[-1]:
            segs[-1], alias = segs[-1].split("@")
        if segs and segs[-1] == "self":
            segs = segs[:-1]
            alias = alias or (segs[-1] if segs else None)
        elif alias is None and segs and segs[-1] != "*":
            alias = segs[-1]
        items.append((segs, alias))
    return items

def analyse(repo, commit, no_tests=False):
    files = [f for f in git(repo, "ls-tree", "-r", "--name-only", commit, "src").split()
             if f.endswith(".rs")]
    if no_tests:
        files = [f for f in files if not f.endswith("/tests.rs")]
    fileset = set(files)
    modfile = {}
    for f in files:
        modfile[tuple(file_module(f))] = f
    lib_root = "src/lib.rs" if "src/lib.rs" in fileset else "src/main.rs"
    modfile[()] = lib_root
    lines = {}
    edges = defaultdict(set)      # file -> set(file)
    for f in files:
        raw = git(repo, "show", f"{commit}:{f}")
        lines[f] = raw.count("\n") + (0 if raw.endswith("\n") or not raw else 1)
        text = strip(raw)
        if no_tests:
            text = drop_cfg_test(text)
        base = file_module(f)
        is_main = f == "src/main.rs"
        # inline module spans
        spans = []   # (start, end, name)
        for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
            d, j = 1, m.end()
            while j < len(text) and d:
                if text[j] == "{": d += 1
                elif text[j] == "}": d -= 1
                j += 1
            spans.append((m.start(), j, m.group(1)))
        def modpath_at(pos):
            p = list(base)
            for s, e, name in sorted(spans):
                if s < pos < e: p.append(name)
            return p
        # child modules of each module path in this file: declared `mod x;` or inline
        children = defaultdict(set)
        for m in re.finditer(r"\bmod\s+(\w+)\s*[;{]", text):
            children[tuple(modpath_at(m.start()))].add(m.group(1))
        def resolve(segs, pos):
            cur = modpath_at(pos)
            if not segs: return None
            if segs[0] == "crate" or segs[0] == "$crate" or (is_main and segs[0] == LIB_NAME):
                return segs[1:]
            if segs[0] in ("super", "self"):
                p = list(cur); k = 0
                while k < len(segs) and segs[k] in ("super", "self"):
                    if segs[k] == "super": p = p[:-1]
                    k += 1
                return p + segs[k:]
            if segs[0] in children[tuple(cur)]:
                return cur + segs
            return None
        def target(abs_segs):
            for k in range(len(abs_segs), -1, -1):
                t = modfile.get(tuple(abs_segs[:k]))
                if t: return t
            return None
        aliases = {}   # name -> abs module path (only when it is a module)
        allmods = set(modfile)
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            for segs, alias in use_items(m.group(1)):
                a = resolve(segs, m.start())
                if a is None: continue
                t = target([x for x in a if x != "*"])
                if t and t != f: edges[f].add(t)
                if alias and tuple(a) in allmods:
                    aliases[alias] = a
        path_re = r"(?<![\w:])(\$?crate|super|self%s)((?:\s*::\s*\w+)+)" % (
            "|" + LIB_NAME if is_main else "")
        for m in re.finditer(path_re, text):
            segs = [m.group(1)] + [x.strip() for x in m.group(2).split("::") if x.strip()]
            a = resolve(segs, m.start())
            if a is None: continue
            t = target(a)
            if t and t != f: edges[f].add(t)
        names = set(aliases) | set().union(*children.values()) if children else set(aliases)
        if names:
            alt = "|".join(sorted(map(re.escape, names)))
            for m in re.finditer(r"(?<![\w:])(%s)((?:\s*::\s*\w+)+)" % alt, text):
                # skip the `use` statements themselves (already handled) and `mod` decls
                segs = [m.group(1)] + [x.strip() for x in m.group(2).split("::") if x.strip()]
                if segs[0] in aliases:
                    a = aliases[segs[0]] + segs[1:]
                else:
                    a = resolve(segs, m.start())
                    if a is None: continue
                t = target(a)
                if t and t != f: edges[f].add(t)
    if PARENT_CHILD_OFF:
        # a module file's use of its own submodules (re-exports `pub use child::X`,
        # calls `child::f()`) is how Rust composes one module; drop those edges
        for f in list(edges):
            mp = tuple(file_module(f))
            edges[f] = {t for t in edges[f]
                        if not (tuple(file_module(t))[:len(mp)] == mp and len(file_module(t)) > len(mp))}
    return files, edges, lines

PARENT_CHILD_OFF = False

def drop_cfg_test(text):
    out = text
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        d, j = 1, m.end()
        while j < len(text) and d:
            if text[j] == "{": d += 1
            elif text[j] == "}": d -= 1
            j += 1
        out = out[:m.start()] + "".join(c if c == "\n" else " " for c in text[m.start():j]) + out[j:]
    return out

def tarjan(nodes, edges):
    index, low, on, st, res, c = {}, {}, set(), [], [], [0]
    sys.setrecursionlimit(10000)
    def sc(v):
        index[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            res.append(sorted(comp))
    for v in nodes:
        if v not in index: sc(v)
    return res

def top(f):
    p = f[len("src/"):]
    return p.split("/")[0].removesuffix(".rs")

def report(repo, commit, no_tests=False):
    files, edges, lines = analyse(repo, commit, no_tests)
    sha = git(repo, "rev-parse", "--short", commit).strip()
    print(f"== commit {commit} ({sha}){' [without test code]' if no_tests else ''}"
          f"{' [parent->own-submodule edges dropped]' if PARENT_CHILD_OFF else ''}")
    tops = sorted({top(f) for f in files})
    print(f"files (.rs under src/): {len(files)}; edges: {sum(len(v) for v in edges.values())}")
    print("top-level modules:", ", ".join(tops))
    unplaced = [t for t in tops if t not in RANK]
    if unplaced: print("NOT IN ANY LAYER:", ", ".join(unplaced))
    sccs = [s for s in tarjan(files, edges) if len(s) > 1]
    print(f"(1) import cycles (SCCs of size > 1): {len(sccs)}")
    for s in sorted(sccs, key=len, reverse=True):
        print(f"    [{len(s)}] " + ", ".join(x[len('src/'):] for x in s))
    up, same = [], []
    for f in sorted(edges):
        for t in sorted(edges[f]):
            a, b = top(f), top(t)
            if a == b or a not in RANK or b not in RANK: continue
            if RANK[b] > RANK[a]: up.append((f, t))
            elif RANK[b] == RANK[a]: same.append((f, t))
    print(f"(2) upward imports (file -> file): {len(up)}")
    for f, t in up:
        print(f"    {f[4:]} [{top(f)}, L{RANK[top(f)]}] -> {t[4:]} [{top(t)}, L{RANK[top(t)]}]")
    print(f"    cross-module imports within one layer: {len(same)}")
    for f, t in same:
        print(f"    {f[4:]} -> {t[4:]}")
    big = sorted(files, key=lambda f: -lines[f])[:5]
    print("(3) largest files (lines):", "; ".join(f"{f[4:]} {lines[f]}" for f in big))
    print(f"(4) files: {len(files)}; top-level modules: {len(tops)}")
    print()

if __name__ == "__main__":
    repo, commits = sys.argv[1], [a for a in sys.argv[2:] if not a.startswith("--")]
    PARENT_CHILD_OFF = "--no-parent-child" in sys.argv
    for c in commits:
        report(repo, c, "--no-tests" in sys.argv)
