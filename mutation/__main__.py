"""python -m mutation [MODULE ...] [--budget SECONDS] [--max-children N] [--no-hand]

Runs mutmut 3 over each MODULE (default: every module of mutation.modules.MODULES) with
that module's tests, in build/mutation/<module>/, then replays the hand mutants of the
selected modules. Prints the kill ratio per module and in total, and every mutant that
was not killed, and writes build/mutation/summary.json. Exits 1 when a mutant survived
or a hand mutant no longer applies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from mutation.modules import (ALSO_COPY, AUDIT_MUTANTS, MODULES, SOURCE_PACKAGES, WHOLE_SELECTION, HandMutant,
                              module_of)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"
DRIVER = Path(__file__).resolve().parent / "mutmut_driver.py"
# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code)
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SKIPPED = {34}


def _slug(module: str) -> str:
    return module.replace("/", "_").removesuffix(".py")


def _only_mutate(module: str) -> str:
    return module if module.endswith(".py") else module.rstrip("/") + "/*"


def _workdir(module: str) -> Path:
    """A scratch folder that looks like the repository (symlinks) with its own setup.cfg."""
    work = BUILD / _slug(module)
    shutil.rmtree(work, ignore_errors=True)  # fresh: mutmut would keep stale copies of other files
    work.mkdir(parents=True)
    for name in (*SOURCE_PACKAGES, *ALSO_COPY, "tests"):
        (work / name).symlink_to(ROOT / name)
    lines = ["[mutmut]", "source_paths =", *(f"    {p}" for p in SOURCE_PACKAGES),
             f"only_mutate = {_only_mutate(module)}",
             "also_copy =", *(f"    {p}" for p in ALSO_COPY),
             "pytest_add_cli_args_test_selection =", *(f"    {t}" for t in MODULES[module]),
             # The estimate mutmut times a mutant against counts test bodies, not fixtures
             # (moto, the program under mocks): a survivor running all its tests needs room.
             "timeout_multiplier = 4", "timeout_constant = 30",
             "process_isolation = forkserver",
             "use_git_change_detection = false", ""]
    (work / "setup.cfg").write_text("\n".join(lines))
    return work


def _results(work: Path, module: str) -> dict[str, int | None]:
    """Exit code per mutant name, read from mutmut's .meta files."""
    codes: dict[str, int | None] = {}
    base = work / "mutants"
    for meta in sorted(base.rglob("*.py.meta")):
        source = meta.relative_to(base).as_posix().removesuffix(".meta")
        if module_of(source) != module:
            continue
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def run_module(module: str, budget_s: float, max_children: int, names: list[str] | None = None) -> dict:
    """`names`: only these mutants (e.g. an earlier run's survivors, after new tests)."""
    work = _workdir(module)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_ENDPOINT_URL")}
    started = time.monotonic()
    log = (BUILD / f"{_slug(module)}.log").open("w")
    whole = ["--whole-selection"] if module in WHOLE_SELECTION else []
    command = [sys.executable, str(DRIVER), *whole, "run", "--max-children", str(max_children), *(names or [])]
    proc = subprocess.Popen(command,
                            cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    interrupted = False
    try:
        proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        interrupted = True
        os.killpg(proc.pid, signal.SIGINT)  # mutmut stops its workers and keeps what it has
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()
    codes = _results(work, module)
    if names:
        codes = {n: c for n, c in codes.items() if n in names}
    killed = [n for n, c in codes.items() if c in KILLED]
    timeouts = sorted(n for n, c in codes.items() if c in TIMEOUT)
    skipped = [n for n, c in codes.items() if c in SKIPPED]
    unchecked = [n for n, c in codes.items() if c is None]  # the budget ran out first
    survived = sorted(n for n, c in codes.items() if c == 0)
    other = sorted(f"{n} ({c})" for n, c in codes.items()
                   if c not in KILLED and c not in TIMEOUT and c not in SKIPPED and c != 0 and c is not None)
    return {"module": module, "seconds": round(time.monotonic() - started), "exit_code": proc.returncode,
            "interrupted": interrupted, "mutants": len(codes) - len(skipped) - len(unchecked), "unchecked": len(unchecked), "killed": len(killed) + len(timeouts),
            "timeouts": timeouts,
            "survived": survived, "not_killed_other": other, "workdir": str(work.relative_to(ROOT))}


def run_hand_mutant(m: HandMutant) -> dict:
    """Applies `m` to a copy of the repository and runs its tests there: killed when they fail."""
    work = BUILD / "hand"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in (*SOURCE_PACKAGES, *ALSO_COPY, "tests"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, work / name)
    target = work / m.path
    text = target.read_text()
    if text.count(m.old) != 1:
        return {"name": m.name, "status": "stale", "why": m.why,
                "detail": f"expected once in {m.path}, found {text.count(m.old)} times"}
    target.write_text(text.replace(m.old, m.new))
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_ENDPOINT_URL")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *m.tests],
                          cwd=work, env=env, capture_output=True, text=True)
    status = "killed" if proc.returncode == 1 else ("survived" if proc.returncode == 0 else "error")
    failing = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return {"name": m.name, "path": m.path, "status": status, "why": m.why, "exit_code": proc.returncode,
            "seconds": round(time.monotonic() - started), "killed_by": failing[:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation")
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--budget", type=float, default=1800, help="seconds per module (default 1800)")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut workers (at most 2)")
    parser.add_argument("--no-hand", action="store_true", help="skip the hand mutants")
    parser.add_argument("--hand-only", action="store_true", help="only the hand mutants")
    parser.add_argument("--rerun-survivors", type=Path, metavar="DIR",
                        help="only the mutants that survived in DIR/<module>.json (an earlier run's results)")
    args = parser.parse_args(argv)
    modules = [m.rstrip("/") for m in args.modules] or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    children = max(1, min(2, args.max_children))
    BUILD.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    reports = []
    for module in ([] if args.hand_only else modules):
        print(f"mutmut: {module} ({', '.join(MODULES[module])})", flush=True)
        names = None
        if args.rerun_survivors:
            earlier = args.rerun_survivors / f"{_slug(module)}.json"
            names = json.loads(earlier.read_text())["survived"] if earlier.exists() else []
            if not names:
                print("  no survivors to re-run")
                continue
        report = run_module(module, args.budget, children, names)
        reports.append(report)
        (BUILD / f"{_slug(module)}.json").write_text(json.dumps(report, indent=2))
        ratio = report["killed"] / report["mutants"] if report["mutants"] else 1.0
        print(f"  {report['killed']}/{report['mutants']} killed ({ratio:.1%}) in {report['seconds']} s"
              + (f" [budget reached: {report['unchecked']} mutants not checked]" if report["interrupted"] else ""),
              flush=True)
        for name in report["survived"]:
            print(f"  survived: {name}")
        for name in report["timeouts"]:
            print(f"  timeout (counted as killed, as mutmut does): {name}")
        by_status: dict[str, int] = {}
        for name in report["not_killed_other"]:
            code = name.rsplit("(", 1)[-1].rstrip(")")
            status = {"33": "no test reaches it", "5": "no test reaches it", "35": "suspicious",
                      "-11": "segfault", "-9": "killed by the system"}.get(code, f"exit code {code}")
            by_status[status] = by_status.get(status, 0) + 1
        for status, n in sorted(by_status.items()):
            print(f"  not killed: {n} mutants, {status} (names in {report['workdir']}.json)")

    hand = []
    if not args.no_hand:
        selected = [m for m in AUDIT_MUTANTS if module_of(m.path) in modules or set(modules) == set(MODULES)]
        for m in selected:
            result = run_hand_mutant(m)
            hand.append(result)
            print(f"hand mutant {m.name}: {result['status']}", flush=True)

    total = sum(r["mutants"] for r in reports)
    killed = sum(r["killed"] for r in reports)
    hand_killed = sum(1 for h in hand if h["status"] == "killed")
    summary = {"modules": reports, "hand": hand, "mutants": total, "killed": killed,
               "hand_mutants": len(hand), "hand_killed": hand_killed,
               "seconds": round(time.monotonic() - started)}
    (BUILD / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"total: {killed}/{total} mutmut mutants killed"
          + (f" ({killed / total:.1%})" if total else "")
          + f", {hand_killed}/{len(hand)} hand mutants killed, {summary['seconds']} s"
          + f" (details: {(BUILD / 'summary.json').relative_to(ROOT)}; `cd build/mutation/<module> &&"
          + " ../../../.venv/bin/mutmut show <name>` shows a mutant)")
    incomplete = any(r["survived"] or r["not_killed_other"] or r["interrupted"] or r["exit_code"] not in (0, None)
                     for r in reports)
    return 1 if incomplete or hand_killed != len(hand) else 0


if __name__ == "__main__":
    sys.exit(main())
