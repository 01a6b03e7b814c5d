"""The layout holds: imports run storage <- actors <- jobs, no circle; the README names each module.

Every module of jobs/, actors/ and storage/ is parsed, not imported, so lazy imports inside
functions count as much as the ones at the top of a file, and so do package `__init__` files.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.corpus import REPO

PACKAGES = ("jobs", "actors", "storage")
# Which packages each one may import: itself and the layers below it.
ALLOWED = {"storage": {"storage"}, "actors": {"storage", "actors"},
           "jobs": {"storage", "actors", "jobs"}}


def find_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted name -> file: jobs/embed/run.py is jobs.embed.run, jobs/embed/__init__.py jobs.embed."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(name: str, modules: dict[str, Path]) -> list[str]:
    """Every dotted name module `name` imports, anywhere in it, relative imports made absolute."""
    is_package = modules[name].name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(modules[name].read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` only mod.
            found += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                      for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
            found.append(node.value)  # importlib.import_module("jobs.cli.ops") takes a string
    return found


def owner(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest project module a dotted name lies in, or None outside the project."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the other project modules it imports."""
    return {name: {owner(n, modules) for n in imported_names(name, modules)} - {None, name}
            for name in modules}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, found = {}, {}, [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def shortest_circle(graph: dict[str, set[str]], start: str) -> list[str]:
    """The shortest import chain from `start` back to itself (breadth first): what to cut."""
    paths, todo = {start: [start]}, [start]
    while todo:
        node = todo.pop(0)
        for target in sorted(graph.get(node, ())):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                todo.append(target)
    return []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing `start` may import, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()) - seen:
            seen.add(target)
            todo.append(target)
    return seen


MODULES = find_modules(REPO, PACKAGES)
GRAPH = import_graph(MODULES)


def test_every_module_is_parsed_lazy_imports_and_package_inits_included():
    assert {"jobs.embed.run", "jobs.cli.main", "actors.encoders", "storage.errors"} <= set(GRAPH)
    assert "jobs.service.serve" in GRAPH["jobs.cli.serve"]  # imported inside cmd_serve
    assert "actors.encoders.fake" in GRAPH["actors.encoders"]  # an __init__'s relative import
    assert "jobs.cli.ops" in GRAPH["jobs.cli.main"]  # named for importlib.import_module


def test_there_is_no_import_circle():
    found = [" -> ".join(shortest_circle(GRAPH, component[0])) for component in circles(GRAPH)]
    assert found == []


@pytest.mark.parametrize("layer", PACKAGES)
def test_no_layer_imports_a_higher_one(layer):
    upward = sorted(f"{source} -> {target}" for source, targets in GRAPH.items()
                    if source.split(".")[0] == layer for target in targets
                    if target.split(".")[0] not in ALLOWED[layer])
    assert upward == []


def test_the_job_entry_point_does_not_pull_in_the_cli():
    # `python -m jobs.embed` is what a Ray job runs: the embed flags, not every command's imports.
    pulled = reachable(GRAPH, "jobs.embed.__main__")
    assert "jobs.embed.run" in pulled
    assert sorted(m for m in pulled if m == "jobs.cli" or m.startswith("jobs.cli.")) == []


def test_the_checker_finds_a_circle_closed_by_a_lazy_relative_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from . import a\n")
    (package / "a.py").write_text("import json\n\nfrom pkg.b import helper\n")
    (package / "b.py").write_text("def helper():\n    from .a import thing\n")
    (package / "c.py").write_text("from pkg import b\n")
    graph = import_graph(find_modules(tmp_path, ("pkg",)))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.b"}}
    assert circles(graph) == [["pkg.a", "pkg.b"]]
    assert shortest_circle(graph, "pkg.a") == ["pkg.a", "pkg.b", "pkg.a"]
    (package / "b.py").write_text("def helper():\n    import json\n")
    assert circles(import_graph(find_modules(tmp_path, ("pkg",)))) == []


def layout_entries(readme: str) -> tuple[dict[str, str], str]:
    """The README layout tree's entries by folder ('jobs/', 'jobs/embed/'), and the whole section."""
    section = readme.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    tree = section.split("```", 2)[1]
    entries: dict[str, str] = {}
    top = folder = None
    for line in tree.splitlines():
        indent, first = len(line) - len(line.lstrip()), (line.split() or [""])[0]
        if indent == 0:
            top = folder = first if first.endswith("/") else None
        elif indent == 2 and top:
            folder = top + first if first.endswith("/") else top
        if folder:
            entries[folder] = entries.get(folder, "") + line + "\n"
    return entries, section


def test_the_readme_layout_names_every_module_in_its_folder():
    # A newcomer finds a behaviour from the README's layout in one hop only if every module,
    # page and script is named there, under its own folder (or by path in the stage table).
    entries, section = layout_entries((REPO / "README.md").read_text())
    unnamed = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*")):
            if path.suffix not in (".py", ".html", ".js") or path.name == "__init__.py":
                continue
            relative = path.relative_to(REPO)
            folder = relative.parent.as_posix() + "/"
            stem = path.stem if path.suffix == ".py" else path.name
            if not (re.search(rf"\b{re.escape(stem)}\b", entries.get(folder, ""))
                    or relative.as_posix() in section):
                unnamed.append(relative.as_posix())
    assert unnamed == []
