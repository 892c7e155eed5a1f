"""moto's server app on a werkzeug thread, as moto's ThreadedMotoServer runs it (the
same app, request handler and threading), with browser-based uploads checked by
`S3PostPolicy` before moto sees them. Nothing else about moto changes."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.s3_post_upload import S3PostPolicy


class MotoServer:
    def __init__(self, host: str, region: str, credentials: Mapping[str, str], port: int = 0):
        self.post_policy = S3PostPolicy(DomainDispatcherApplication(create_backend_app), region, credentials)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        self._server = make_server(
            self._host, self._port, self.post_policy, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
