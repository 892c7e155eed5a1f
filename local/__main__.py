"""`make run`: the whole backend on $HOST:$PORT (default 127.0.0.1:8080) until Ctrl-C.

PUBLIC_URL (default http://$HOST:$PORT) is the address clients use, e.g.
http://10.0.2.2:8080 from the Android emulator: every URL the stack hands out names it."""

import faulthandler
import logging
import os
import signal
import sys
import threading
import time

from local.server import LocalStack, exposure_warning

# The whole stop: the stand-ins that wait for threads (the alarm ticker, each trigger
# poller, moto) wait 5 s each at most, and local.server bounds each stand-in's stop.
STOP_LIMIT_S = 40


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    started = time.monotonic()
    stack = LocalStack(
        port=int(os.environ.get("PORT", "8080")),
        host=os.environ.get("HOST") or "127.0.0.1",
        public_url=os.environ.get("PUBLIC_URL") or None,
        run_schedules=True,  # the canary walks the journey as it does in every deployed stack
    ).start()
    outputs = stack.program.outputs
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(
        f"""Serenya local stack ({stack.stack} settings), ready in {time.monotonic() - started:.1f}s
  listening on   {stack.host}:{stack.port}
  API            {stack.public_url}/api/v1/...   health: {stack.public_url}/local/health
  uploads        {stack.public_url}/local/s3/<bucket> (forwarded to the local S3)
  AWS (moto)     {stack.aws_endpoint_url} (this machine only)
  table          {outputs["table"]} (stream on)
  temp bucket    {outputs["temp_bucket"]}
  events bucket  {outputs["events_bucket"]}
  functions      {len(outputs["functions"])}: {", ".join(sorted(outputs["functions"])) or "none yet"}
Ctrl-C stops it.""",
        flush=True,
    )
    warning = exposure_warning(stack.host, stack.public_url)
    if warning:  # last, where it is seen; the log has it too
        print(f"\n{warning}\n", flush=True)
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
