"""``make mutation``: mutmut over the pure core (codec, positions, crdt) against the unit tests.

mutmut 3 names a mutant after its file's path and only puts a package found at the top level or
under ``src/`` on ``sys.path``: here ``shared/prdtool/codec.py`` would become ``shared.prdtool.codec``
while the tests import ``prdtool.codec``, and no mutant would ever be active. So mutmut runs in
``.mutation/``, a folder of links into this checkout where the package is ``prdtool/``, with the
settings of pyproject's ``[tool.mutmut]`` (paths relative to that folder); its output lands in
``.mutation/mutants/``. Each run starts afresh: mutmut keeps an earlier verdict rather than
retesting a survivor against new tests. See docs/testing.md.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / ".mutation"
# What the staging folder holds: the package at the top level, and what the unit tests read (the
# editing trace is tests/data/, so it comes with tests/ into mutants/ as well).
LINKS = {
    "prdtool": "shared/prdtool",
    "tests": "tests",
    "pyproject.toml": "pyproject.toml",
    "template.yaml": "template.yaml",
    "statemachines": "statemachines",
    "functions": "functions",
    "events": "events",
}
MODULES = ("codec", "positions", "crdt")
AS_MUTMUT = "--as-mutmut"
SHOWN = ("killed", "survived", "timeout", "suspicious", "no tests", "segfault", "not checked")


def stage() -> None:
    """Build ``.mutation/`` afresh: links only, so mutmut's copies are taken from the checkout as it is now."""
    shutil.rmtree(STAGE, ignore_errors=True)
    STAGE.mkdir()
    for name, target in LINKS.items():
        (STAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (STAGE / name).symlink_to((ROOT / target).resolve())


def mutmut(*args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run mutmut inside the staging folder (see ``as_mutmut``), where it reads its settings on import."""
    command = [sys.executable, __file__, AS_MUTMUT, *args]
    return subprocess.run(command, cwd=STAGE, text=True, capture_output=capture, check=False)


def as_mutmut(args: list[str]) -> None:
    """mutmut's own command line, in this process.

    mutmut 3.8.0 reads a test's node id as ``item._nodeid``, which pytest 9.2 no longer has (3.8.1
    reads the public ``item.nodeid``): alias the one to the other for this process only.
    """
    from _pytest.nodes import Node

    if not hasattr(Node, "_nodeid"):
        Node._nodeid = property(lambda node: node.nodeid)  # type: ignore[attr-defined]
    from mutmut.__main__ import cli

    cli(args, prog_name="mutmut")


def verdicts() -> dict[str, dict[str, str]]:
    """Every mutant's verdict, by module, from ``mutmut results --all``."""
    out = mutmut("results", "--all", "true", capture=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
    by_module: dict[str, dict[str, str]] = {m: {} for m in MODULES}
    for line in out.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        # prdtool.kernel.codec.x_decode_json__mutmut_3: the module is the third part
        module = name.split(".")[2] if name.startswith("prdtool.") and name.count(".") >= 3 else ""
        if sep and module in by_module:
            by_module[module][name] = status
    return by_module


def report(by_module: dict[str, dict[str, str]]) -> None:
    """Per module: killed / total, the other verdicts, the kill percentage; then every survivor."""
    print(f"\n{'module':<12}{'killed/total':>14}{'%':>8}  others")
    for module, results in by_module.items():
        counts = Counter(results.values())
        total = len(results)
        others = ", ".join(f"{s} {counts[s]}" for s in SHOWN[1:] if counts[s])
        extra = ", ".join(f"{s} {n}" for s, n in counts.items() if s not in SHOWN)
        percent = f"{100 * counts['killed'] / total:.1f}" if total else "-"
        print(f"{module:<12}{counts['killed']:>7}/{total:<6}{percent:>8}  {', '.join(filter(None, [others, extra]))}")
    for module, results in by_module.items():
        left = sorted((name, status) for name, status in results.items() if status not in ("killed", "not checked"))
        if left:
            print(f"\nnot killed in {module}.py (`cd .mutation && mutmut show NAME` shows the diff):")
            for name, status in left:
                print(f"    {name}: {status}")


def main(argv: list[str]) -> int:
    """Stage, run every mutant (or those ``argv`` names, as ``mutmut run`` takes them), report."""
    stage()
    code = mutmut("run", *argv).returncode
    report(verdicts())
    return code


if __name__ == "__main__":
    if sys.argv[1:2] == [AS_MUTMUT]:
        as_mutmut(sys.argv[2:])
    sys.exit(main(sys.argv[1:]))
