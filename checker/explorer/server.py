"""The explorer as a local web app: one page and a small JSON API over one `Session`.

Flask (with Werkzeug's threaded server) is used: a mature, small, synchronous framework — the work per
request is a few successor computations under one lock, so an async stack would buy nothing — whose
server can be started and shut down from inside a process (a notebook kernel, a test) without a
subprocess. The server binds 127.0.0.1 only (a random free port unless one is asked for), and stops by
itself after `idle` seconds without a request. Nothing is fetched by the page: its script, styles and
the chart (SVG) are all inline.

    GET  /                 the page
    GET  /api/state        the session's view (Session.view)
    POST /api/take         {"index": i} or {"label": "..."}: take an enabled step
    POST /api/back, /api/forward, /api/goto {"position": k}, /api/restart {"initial": k}
    POST /api/walk         {"steps": n}: a random walk
    POST /api/jump         {"name": "counterexample" | "witness:NAME"}
    GET  /api/trace        the path as a trace file (JSON; `faultcheck show`/`replay` read it)
    GET  /api/viewer       the path as the HTML trace viewer

Every POST answers with the new view; a request the session refuses is a 400 with {"error": "..."},
and the model's own code raising is a 500 with the same shape.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from .page import PAGE
from .session import ExploreError, Session

HOST = "127.0.0.1"
IDLE_SECONDS = 1800.0
MAX_WALK = 10_000


def make_app(session: Session, touch: Any = None) -> Any:
    """The Flask app serving `session`; `touch()` is called on every request (the idle clock)."""
    from flask import Flask, Response, jsonify, request

    app = Flask("faultcheck-explore")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the state's variables in the model's order
    lock = threading.Lock()

    def answer(fn: Any) -> Any:
        if touch is not None:
            touch()
        with lock:
            try:
                fn()
                return jsonify(session.view())
            except ExploreError as e:
                return jsonify({"error": str(e)}), 400
            except Exception as e:  # the model's own code raised: say so on the page, keep serving
                return jsonify({"error": f"the model raised {type(e).__name__}: {e}"}), 500

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    def integer(name: str, default: int | None = None) -> int:
        v = body().get(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ExploreError(f"{name}: expected a whole number, got {v!r}")
        return v

    @app.get("/")
    def page() -> Any:
        if touch is not None:
            touch()
        return Response(PAGE, mimetype="text/html")

    @app.get("/api/state")
    def state() -> Any:
        return answer(lambda: None)

    @app.post("/api/take")
    def take() -> Any:
        def go() -> None:
            label = body().get("label")
            if isinstance(label, str):
                session.take_label(label)
            else:
                session.take(integer("index"))
        return answer(go)

    @app.post("/api/back")
    def back() -> Any:
        return answer(session.back)

    @app.post("/api/forward")
    def forward() -> Any:
        return answer(session.forward)

    @app.post("/api/goto")
    def goto() -> Any:
        return answer(lambda: session.goto(integer("position")))

    @app.post("/api/restart")
    def restart() -> Any:
        return answer(lambda: session.restart(integer("initial", 0)))

    @app.post("/api/walk")
    def walk() -> Any:
        def go() -> None:
            n = integer("steps", 10)
            if n > MAX_WALK:
                raise ExploreError(f"steps: at most {MAX_WALK:,} in one walk")
            session.walk(n)
        return answer(go)

    @app.post("/api/jump")
    def jump() -> Any:
        def go() -> None:
            name = body().get("name")
            if not isinstance(name, str):
                raise ExploreError("name: expected the name of a jump")
            session.jump(name)
        return answer(go)

    def download(text: str, mimetype: str, suffix: str) -> Any:
        name = f"{_stem(session)}-{session.position}-steps{suffix}"
        return Response(text, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/trace")
    def trace() -> Any:
        if touch is not None:
            touch()
        with lock:
            return download(session.trace().dumps(), "application/json", ".json")

    @app.get("/api/viewer")
    def viewer() -> Any:
        from ..trace.html import to_html

        if touch is not None:
            touch()
        with lock:
            return download(to_html(session.trace()), "text/html", ".html")

    return app


def _stem(session: Session) -> str:
    if session.spec:
        name = session.spec.replace("\\", "/").rsplit("/", 1)[-1]
        return name.removesuffix(".toml") or "trace"
    return session.protocol.rsplit(":", 1)[-1] or "trace"


class Server:
    """`session` served on http://127.0.0.1:`port` (0: a free port the system picks). `start()` serves in a
    background thread (a notebook, a test); `serve()` in this one until Ctrl-C. Either way it stops by
    itself after `idle` seconds without a request, and `stop()` stops it."""

    def __init__(self, session: Session, port: int = 0, idle: float = IDLE_SECONDS):
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.session = session
        self.idle = idle
        self._last = time.monotonic()
        self._stopped = threading.Event()
        # bound here, so that a port in use is an OSError (Werkzeug's own bind would print and sys.exit)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, port))
            sock.listen(64)
            self._httpd = make_server(HOST, sock.getsockname()[1], make_app(session, self._touch), threaded=True,
                                      fd=sock.fileno())  # Werkzeug serves on a duplicate of it
        self.port: int = self._httpd.socket.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}/"
        self._thread: threading.Thread | None = None
        self.idled = False  # whether it stopped for want of requests

    def _touch(self) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._stopped.wait(min(1.0, self.idle / 4)):
            if time.monotonic() - self._last > self.idle:
                self.idled = True
                self._stopped.set()
                self._httpd.shutdown()

    def start(self) -> Server:
        """Serve in a daemon thread (it ends with the process); returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="faultcheck-explore", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch, name="faultcheck-explore-idle", daemon=True).start()
        return self

    def serve(self) -> None:
        """Serve in this thread until Ctrl-C, `stop()` or the idle timeout."""
        threading.Thread(target=self._watch, name="faultcheck-explore-idle", daemon=True).start()
        try:
            self._httpd.serve_forever()
        finally:
            self._stopped.set()
            self._httpd.server_close()

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._httpd.server_close()

    @property
    def running(self) -> bool:
        return not self._stopped.is_set()

    def _repr_html_(self) -> str:
        """In a notebook: the explorer in an iframe (the page comes from this kernel's server, on 127.0.0.1)."""
        return (f'<iframe src="{self.url}" style="width: 100%; height: 760px; border: 1px solid #ddd; '
                f'border-radius: 6px;" title="faultcheck explorer"></iframe>'
                f'<div style="font-size: 12px; color: #666">faultcheck explorer at <a href="{self.url}" '
                f'target="_blank">{self.url}</a> (stops after {self.idle / 60:g} idle minutes, or '
                f'<code>.stop()</code>)</div>')

    def __repr__(self) -> str:
        return f"<faultcheck explorer at {self.url}{'' if self.running else ' (stopped)'}>"


__all__ = ["HOST", "IDLE_SECONDS", "Server", "make_app"]
