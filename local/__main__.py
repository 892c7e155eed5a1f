"""`make run`: the whole backend on 127.0.0.1:$PORT (default 8080) until Ctrl-C."""

import faulthandler
import logging
import os
import signal
import sys
import threading
import time

from local.server import LocalStack

# The whole stop: the stand-ins that wait for threads (the alarm ticker, each trigger
# poller, moto) wait 5 s each at most, and local.server bounds each stand-in's stop.
STOP_LIMIT_S = 40


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    started = time.monotonic()
    stack = LocalStack(port=int(os.environ.get("PORT", "8080"))).start()
    outputs = stack.program.outputs
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(
        f"""Serenya local stack ({stack.stack} settings), ready in {time.monotonic() - started:.1f}s
  API            {stack.url}/api/v1/...   health: {stack.url}/local/health
  AWS (moto)     {stack.aws_endpoint_url}
  table          {outputs["table"]} (stream on)
  temp bucket    {outputs["temp_bucket"]}
  events bucket  {outputs["events_bucket"]}
  functions      {len(outputs["functions"])}: {", ".join(sorted(outputs["functions"])) or "none yet"}
Ctrl-C stops it.""",
        flush=True,
    )
    # Woken twice a second: a signal handler runs only when the main thread runs
    # Python, and a wait without a timeout may never return to it.
    while not stopped.wait(0.5):
        pass
    print("stopping...", flush=True)
    # A stop that hangs says where (every thread's stack) and exits anyway.
    faulthandler.dump_traceback_later(STOP_LIMIT_S, exit=True, file=sys.stdout)
    stack.stop()
    faulthandler.cancel_dump_traceback_later()
    print("stopped", flush=True)
    sys.stderr.flush()
    # Everything the stack opened is closed: the interpreter's own teardown would only
    # garbage-collect moto's and botocore's objects, which took 25 s (measured), and
    # longer on a loaded machine, after "stopped" was printed.
    os._exit(0)


if __name__ == "__main__":
    main()
