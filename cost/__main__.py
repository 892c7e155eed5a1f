"""`make cost`: each stack's monthly bill, the top items, and docs/cost.md.

    python -m cost [--doc docs/cost.md] [--top 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cost.data import load_prices, load_profile
from cost.graph import evaluate
from cost.report import STACKS, build, markdown, terminal

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cost", description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "cost.md", help="where to write the page")
    parser.add_argument("--top", type=int, default=8, help="items printed per stack")
    args = parser.parse_args(argv)
    report = build({stack: evaluate(stack) for stack in STACKS}, load_profile(), load_prices())
    args.doc.write_text(markdown(report))
    print(terminal(report, args.top))
    print(f"written: {args.doc}")


if __name__ == "__main__":
    main()
