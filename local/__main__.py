"""`make run`: the whole backend on $HOST:$PORT (default 127.0.0.1:8080) until Ctrl-C.

PUBLIC_URL (default http://$HOST:$PORT) is the address clients use, e.g.
http://10.0.2.2:8080 from the Android emulator: every URL the stack hands out names it.
It prints one line per request and the functions' errors; their JSON log and EMF lines
and the program's deployment advice go to the log file (--log-file, default
build/local/functions.log), also shown with --verbose (`make run VERBOSE=1`)."""

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from local import isolation
from local.console import FunctionLog, open_log
from local.program import PROGRAM_LOG
from local.server import LocalStack, exposure_warning

DEFAULT_LOG = Path("build/local/functions.log")

# The whole stop: the stand-ins that wait for threads (the alarm ticker, each trigger
# poller, moto) wait 5 s each at most, and local.server bounds each stand-in's stop.
STOP_LIMIT_S = 40


LIBRARY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "moto", "werkzeug")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=os.environ.get("VERBOSE", "") not in ("", "0"),
        help="also print the functions' log and EMF lines (VERBOSE=1)",
    )
    parser.add_argument("--log-file", type=Path, default=Path(os.environ.get("LOG_FILE") or DEFAULT_LOG))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    log = open_log(args.log_file)
    isolation.echo_to(FunctionLog(log, sys.stdout, args.verbose))
    # The program's advice for `pulumi up` (alert email...) is the deployment's, not this stack's.
    program_log = logging.StreamHandler(log)
    program_log.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # So is what the libraries log at INFO (botocore names each endpoint it resolves).
    for logger in (PROGRAM_LOG, *(logging.getLogger(name) for name in LIBRARY_LOGGERS)):
        logger.addHandler(program_log)
        logger.propagate = args.verbose
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
  function logs  {args.log_file}{" (also shown here)" if args.verbose else " (--verbose or VERBOSE=1 shows them here)"}
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
