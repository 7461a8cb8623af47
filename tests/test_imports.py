"""The modules of the diarize package import one another without a circle.

Every import counts, wherever it is written (module top, inside a function, under
``if TYPE_CHECKING:``): an import deferred into a function still ties the two modules
together, and a circle hidden that way breaks as soon as someone moves the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "diarize"
NAME = "diarize"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``diarize`` is __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from .x import y`` with ``y`` a module
    counts as importing ``x.y``; importing a name from the package means its __init__)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, is_package, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in modules else source)
            for target in targets:
                # `import diarize.x.y` imports the longest package module it names
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and target.split(".")[0] == NAME:
                    graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "diarize.writers" in graph["diarize.segments"]     # top-level relative import
    assert "diarize.pipeline" in graph["diarize"]             # inside a function (__getattr__)
    assert "diarize" in graph["diarize.cli"]                  # `from . import __version__`
    assert "diarize.batch" in graph["diarize.cli"]            # `from . import batch`


def test_find_cycle_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


@pytest.mark.parametrize("module", ["diarize.writers"])
def test_writers_depend_on_no_stage(module):
    # The output formats are the last stage: they must not need any model stage.
    assert import_graph()[module] <= {"diarize.errors", "diarize.names", "diarize._version"}


#: The stages in the order data flows through them (audio -> features -> model ->
#: segments -> writers), the shared helpers below them and the commands that run the
#: stages above them. A module imports only modules of its own rank or below.
STAGE_RANK = {
    0: ["errors", "names", "_version", "frames", "_threads", "_scipy_ext", "_fft",
        "melscale", "config", "highpass", "_iir", "_decode", "progress", "workers"],
    1: ["audio"],
    2: ["features"],
    3: ["gmm", "gmm._base", "gmm._bayesian", "gmm._blocks", "gmm._gaussian", "gmm._io",
        "gmm._kernels", "gmm._kmeans", "sad", "boundaries", "speakers", "resegment",
        "guide", "cluster", "link", "voices", "models"],
    4: ["segments", "rttm", "metrics"],
    5: ["writers"],
    6: ["transcript", "plot", "pipeline", "batch", "tune", "cli", "", "__main__"],
}

#: Imports against the flow, each with its reason.
ALLOWED_UPWARD = {
    # Diarization.to_rttm() and the other to_* methods are conveniences over the
    # writers, which import no stage (test above): no model code reaches the writers.
    ("diarize.segments", "diarize.writers"),
}


def _rank_of() -> dict[str, int]:
    return {("diarize." + m if m else "diarize"): r for r, ms in STAGE_RANK.items()
            for m in ms}


def test_every_module_has_a_stage():
    ranked = _rank_of()
    assert set(import_graph()) == set(ranked), (
        "give each new module its place in STAGE_RANK (and remove the gone ones)")


def test_no_stage_imports_a_later_one():
    rank = _rank_of()
    upward = sorted((m, t) for m, targets in import_graph().items() for t in targets
                    if rank[t] > rank[m] and (m, t) not in ALLOWED_UPWARD)
    assert not upward, "imports against the flow of data: " + ", ".join(
        f"{m} -> {t}" for m, t in upward)


def test_the_stage_check_sees_an_import_against_the_flow():
    rank = _rank_of()
    assert rank["diarize.features"] > rank["diarize.audio"]
    assert rank["diarize.writers"] > rank["diarize.cluster"]
    assert all(edge in {(m, t) for m, ts in import_graph().items() for t in ts}
               for edge in ALLOWED_UPWARD), "an allowed exception that is gone: drop it"
