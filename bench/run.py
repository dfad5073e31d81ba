"""``make bench``: run every case, print the table, and write it to docs/benchmarks.md with the
machine it ran on. ``python -m bench.run engine fanout`` runs only the named cases."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
import traceback
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

# Before any function module loads: EMF metric lines would drown the output.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench.harness import Result

ROOT = Path(__file__).resolve().parents[1]
# Case modules in the order of docs/benchmarks.md; each has run() -> list[Result], and may have CASE
# (its case's title) with INTRO (lines printed above its table).
CASES = [
    "engine", "history", "requests", "join", "fanout", "coldstart", "endtoend", "cost", "concurrent", "comments",
    "versions", "suggestions", "crowds",
]  # fmt: skip
RECORD = ROOT / "bench" / "record.md"
LIBRARIES = ["pycrdt", "boto3", "pynamodb", "moto", "aws-lambda-powertools", "python-socketio", "openai", "pygit2"]


READING = [
    "How to read them: the handler cases run the real Lambda entry points in this process against",
    "moto (DynamoDB, S3, Secrets Manager) and a local HTTP fake of the `@connections` API. Time inside",
    "moto stands for what AWS would spend, plus the network round trip each request costs there (a few",
    "ms in-region); time in botocore is client-side work a Lambda pays too. Where a row splits the time,",
    "`ours` is the project's own code. Counts of requests carry over to AWS exactly; times do not.",
]


def machine() -> list[str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    libraries = ", ".join(f"{name} {version(name)}" for name in LIBRARIES)
    return [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()} ({sys.platform})",
        f"- Libraries: {libraries}",
    ]


def render(results: list[Result], seconds: float, intros: dict[str, list[str]] | None = None) -> str:
    lines = [
        "# Benchmarks", "",
        "Written by `make bench` (`bench/`); every figure is from the run below, on one machine.",
        "Medians of several runs, with their spread (lowest to highest) in parentheses.", "",
        *machine(), f"- Whole run: {seconds:.0f} s", "", *READING,
    ]  # fmt: skip
    case = None
    for r in results:
        if r.case != case:
            case = r.case
            lines += ["", f"## {case}", ""]
            if intro := (intros or {}).get(case):
                lines += [*intro, ""]
            lines += ["| what | figure | note |", "|---|---|---|"]
        lines.append(f"| {r.what} | {r.value} | {r.note} |")
    # The history of the headline figures and the floors they meet, kept by hand beside the cases:
    # a run measures today, the record says where each figure came from and where it can go.
    return "\n".join(lines) + "\n\n" + RECORD.read_text()


def main(argv: list[str]) -> int:
    # powertools warns on every invocation that adds no metric; EMF output is off (stack.py).
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    chosen = argv or CASES
    started = time.perf_counter()
    results: list[Result] = []
    failed = False
    intros: dict[str, list[str]] = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "INTRO"):
            intros[module.CASE] = module.INTRO
        try:
            case_results = module.run()
        except Exception as exc:  # noqa: BLE001 - one failed case must not hide the others' figures
            traceback.print_exc()
            failed = True
            case_results = [Result(module.CASE, "this case failed in this run", type(exc).__name__, str(exc)[:200])]
        for result in case_results:
            print(f"  {result.what}: {result.value}  {result.note}", flush=True)
            results.append(result)
    text = render(results, time.perf_counter() - started, intros)
    if not argv:  # only a full run replaces the published figures
        (ROOT / "docs" / "benchmarks.md").write_text(text)
        print("written to docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
