"""The real HTTP app on a loopback port, served by uvicorn in a thread, for tests that
need true concurrency or the app calling itself (webhook delivery)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from chairside.api.app import create_app
from chairside.config import Settings
from chairside.runtime.ports import free_port


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Serve the app built from ``settings``; yields its base URL."""
    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
