"""`make run`: the whole backend on 127.0.0.1:$PORT (default 8080) until Ctrl-C."""

import logging
import os
import signal
import sys
import threading
import time

from local.server import LocalStack


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    started = time.monotonic()
    stack = LocalStack(port=int(os.environ.get("PORT", "8080"))).start()
    outputs = stack.program.outputs
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:  # from the banner on: Ctrl-C may come as soon as it is printed
        print(f"""Serenya local stack ({stack.stack} settings), ready in {time.monotonic() - started:.1f}s
  API            {stack.url}/api/v1/...   health: {stack.url}/local/health
  AWS (moto)     {stack.aws_endpoint_url}
  table          {outputs['table']} (stream on)
  temp bucket    {outputs['temp_bucket']}
  events bucket  {outputs['events_bucket']}
  functions      {len(outputs['functions'])}: {', '.join(sorted(outputs['functions'])) or 'none yet'}
Ctrl-C stops it.""", flush=True)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    print("stopping...", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
