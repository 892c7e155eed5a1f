"""python -m mutation [MODULE ...] [--sample N | --all] [--seed S] [--budget SECONDS]
                     [--max-children N] [--fail-under PERCENT] [--no-hand | --hand-only]

Runs mutmut 3 over each MODULE (default: every module of mutation.modules.MODULES) with
that module's tests, in build/mutation/<module>/: a seeded random sample of N of its
mutants (default 60; all of them when it has fewer, or with --all), then replays the hand
mutants of the selected modules. Prints, per module and in total, the kill ratio with its
95% Wilson interval, the sample and the seed, and every mutant that was not killed
(a mutant no selected test reaches counts as not killed); writes build/mutation/summary.json.
Exits 1 when a ratio is under --fail-under (default 90), a module ran out of budget, or a
hand mutant survived or no longer applies.
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

from mutmut.stats import status_by_exit_code

from mutation.modules import (ALSO_COPY, AUDIT_MUTANTS, MODULES, SOURCE_PACKAGES, WHOLE_SELECTION, HandMutant,
                              module_of)
from mutation.sampling import Stratum, stratified, wilson

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"
DRIVER = Path(__file__).resolve().parent / "mutmut_driver.py"
DEFAULT_SAMPLE = 60
DEFAULT_SEED = 37


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


def status(code: int | None) -> str:
    """mutmut's name for a mutant's exit code; a timeout counts as killed, as mutmut counts it."""
    name = status_by_exit_code[code]
    return "killed" if name == "timeout" else name


def run_module(module: str, budget_s: float, max_children: int, sample: int, seed: int,
               names: list[str] | None = None) -> dict:
    """`sample` mutants of `module` drawn with `seed` (0: all), or only `names` (e.g. an
    earlier run's survivors, after new tests)."""
    work = _workdir(module)
    record = BUILD / f"{_slug(module)}.sample.json"
    record.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AWS_ENDPOINT_URL")}
    started = time.monotonic()
    log = (BUILD / f"{_slug(module)}.log").open("w")
    whole = ["--whole-selection"] if module in WHOLE_SELECTION else []
    command = [sys.executable, str(DRIVER), *whole, "--sample", str(sample), "--seed", str(seed),
               "--record", str(record), "run", "--max-children", str(max_children), *(names or [])]
    proc = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
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
    generated = len(codes)
    if record.exists():
        drawn = json.loads(record.read_text())["sample"]
        codes = {n: codes.get(n) for n in drawn}
    elif codes:  # mutmut stopped before drawing (e.g. its stats pass failed): nothing was checked
        codes = {}
    statuses = {n: status(c) for n, c in codes.items()}
    checked = {n: s for n, s in statuses.items() if s not in ("not checked", "skipped")}
    killed = sorted(n for n, s in checked.items() if s == "killed")
    not_killed = {n: s for n, s in sorted(checked.items()) if s != "killed"}
    low, high = wilson(len(killed), len(checked))
    return {"module": module, "tests": list(MODULES[module]), "generated": generated,
            "sample": sample if not names else len(names), "seed": seed, "drawn": len(codes),
            "checked": len(checked), "killed": len(killed),
            "ratio": len(killed) / len(checked) if checked else None, "ci95": [low, high],
            "unchecked": sum(1 for s in statuses.values() if s == "not checked"),
            "not_killed": not_killed, "seconds": round(time.monotonic() - started),
            "exit_code": proc.returncode, "interrupted": interrupted,
            "workdir": str(work.relative_to(ROOT))}


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
    status_ = "killed" if proc.returncode == 1 else ("survived" if proc.returncode == 0 else "error")
    failing = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return {"name": m.name, "path": m.path, "status": status_, "why": m.why, "exit_code": proc.returncode,
            "seconds": round(time.monotonic() - started), "killed_by": failing[:3]}


def _percent(ratio: float | None, low: float, high: float) -> str:
    return "-" if ratio is None else f"{ratio:.1%} (95% CI {low:.1%}-{high:.1%})"


def print_module(report: dict) -> None:
    r = report
    of = "all" if r["drawn"] >= r["generated"] else f"a sample of {r['drawn']} (seed {r['seed']})"
    print(f"  {r['killed']}/{r['checked']} killed: {_percent(r['ratio'], *r['ci95'])}; {of} of "
          f"{r['generated']} mutants, {r['seconds']} s"
          + (f" [budget reached: {r['unchecked']} not checked]" if r["interrupted"] else ""), flush=True)
    for name, why in r["not_killed"].items():
        print(f"  {why}: {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation")
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                        help=f"mutants drawn per module (default {DEFAULT_SAMPLE}; 0: all)")
    parser.add_argument("--all", action="store_true", help="every mutant (same as --sample 0)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the sample's seed (default {DEFAULT_SEED})")
    parser.add_argument("--budget", type=float, default=1800, help="seconds per module (default 1800)")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut workers (at most 2)")
    parser.add_argument("--fail-under", type=float, default=90.0,
                        help="exit 1 when a module's or the total kill ratio is under this percentage")
    parser.add_argument("--no-hand", action="store_true", help="skip the hand mutants")
    parser.add_argument("--hand-only", action="store_true", help="only the hand mutants")
    parser.add_argument("--rerun-not-killed", type=Path, metavar="DIR",
                        help="only the mutants not killed in DIR/<module>.json (an earlier run's results)")
    args = parser.parse_args(argv)
    modules = [m.rstrip("/") for m in args.modules] or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    sample = 0 if args.all else max(0, args.sample)
    children = max(1, min(2, args.max_children))
    BUILD.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"sample: {'every mutant' if not sample else f'{sample} mutants per module'}, seed {args.seed}",
          flush=True)

    reports = []
    for module in ([] if args.hand_only else modules):
        print(f"mutmut: {module} ({', '.join(MODULES[module])})", flush=True)
        names = None
        if args.rerun_not_killed:
            earlier = args.rerun_not_killed / f"{_slug(module)}.json"
            names = list(json.loads(earlier.read_text())["not_killed"]) if earlier.exists() else []
            if not names:
                print("  nothing to re-run")
                continue
        report = run_module(module, args.budget, children, sample, args.seed, names)
        (BUILD / f"{_slug(module)}.json").write_text(json.dumps(report, indent=2))
        print_module(report)
        if report["generated"] == 0:
            print("  mutmut generates no mutant here (decorated code only): see the hand mutants")
        else:
            reports.append(report)

    hand = []
    if not args.no_hand:
        selected = [m for m in AUDIT_MUTANTS if module_of(m.path) in modules or set(modules) == set(MODULES)]
        for m in selected:
            result = run_hand_mutant(m)
            hand.append(result)
            print(f"hand mutant {m.name}: {result['status']}", flush=True)

    checked = [r for r in reports if r["checked"]]
    total = stratified([Stratum(r["generated"], r["checked"], r["killed"]) for r in checked])
    hand_killed = sum(1 for h in hand if h["status"] == "killed")
    summary = {"sample": sample, "seed": args.seed, "modules": reports, "hand": hand,
               "checked": sum(r["checked"] for r in checked), "killed": sum(r["killed"] for r in checked),
               "generated": sum(r["generated"] for r in checked),
               "ratio": total.ratio if checked else None, "ci95": [total.low, total.high],
               "n_effective": total.n_effective,
               "hand_mutants": len(hand), "hand_killed": hand_killed,
               "seconds": round(time.monotonic() - started)}
    (BUILD / "summary.json").write_text(json.dumps(summary, indent=2))
    if checked:
        print(f"total: {summary['killed']}/{summary['checked']} mutmut mutants killed; weighted by each "
              f"module's {summary['generated']} mutants: {_percent(total.ratio, total.low, total.high)}")
    print(f"hand mutants: {hand_killed}/{len(hand)} killed; {summary['seconds']} s "
          f"(details: {(BUILD / 'summary.json').relative_to(ROOT)}; `cd build/mutation/<module> &&"
          " ../../../.venv/bin/mutmut show <name>` shows a mutant)")
    floor = args.fail_under / 100
    low = [r["module"] for r in checked if r["ratio"] < floor] + (["total"] if checked and total.ratio < floor else [])
    incomplete = [r["module"] for r in reports if r["interrupted"] or r["unchecked"]
                  or r["exit_code"] not in (0, None) or not r["checked"]]
    if low:
        print(f"under {args.fail_under:g}%: {', '.join(low)}")
    if incomplete:
        print(f"incomplete: {', '.join(incomplete)}")
    return 1 if low or incomplete or hand_killed != len(hand) else 0


if __name__ == "__main__":
    sys.exit(main())
