"""`make bench`: the benchmarks, in one run of the local stack, into docs/benchmarks.md."""

import sys
import time

from bench import analytics, cold_start, documents, identity, load, photos
from local.server import LocalStack


def main() -> str:
    counter = identity.CallCounter()
    stack = LocalStack(port=0).start()
    try:
        sections = [identity.run(stack, counter), documents.run(stack, counter), load.run(stack)]
    finally:
        stack.stop()
    sections += [photos.run(), analytics.run(), cold_start.run()]
    return (f"# Benchmarks\n\nMeasured on this 2-core machine with `make bench` on {time.strftime('%Y-%m-%d')};"
            " rerun it to refresh this page.\n\n" + "\n".join(sections))


# Sections written by other tools (make mutate's, by hand from its output) that a bench
# run must keep rather than overwrite.
KEPT_SECTIONS = ("## Mutation testing",)


def kept(previous: str) -> str:
    """The kept sections of the previous page, each up to the next `## ` heading."""
    parts = []
    for heading in KEPT_SECTIONS:
        start = previous.find(heading)
        if start >= 0:
            end = previous.find("\n## ", start + len(heading))
            parts.append(previous[start:] if end < 0 else previous[start:end + 1])
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


if __name__ == "__main__":
    report = main()
    print(report)
    if len(sys.argv) > 1:
        try:
            with open(sys.argv[1]) as page:
                previous = page.read()
        except FileNotFoundError:
            previous = ""
        extra = kept(previous)
        with open(sys.argv[1], "w") as out:
            out.write(report.rstrip("\n") + ("\n\n" + extra if extra else "\n"))
