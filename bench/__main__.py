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


if __name__ == "__main__":
    report = main()
    print(report)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            out.write(report)
