"""``ethos serve``: run one revision of the service."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import click

from .errors import CLIError


class _CutAtShutdown(logging.Filter):
    """A request still running when the shutdown grace ends is cancelled by uvicorn, which
    logs the cancellation with a stack trace; during shutdown that is the expected end of a
    long stream, so it is logged as one line instead."""

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if self.server.should_exit and isinstance(exc, asyncio.CancelledError):
            record.msg, record.args = "a request still running after the shutdown grace was cut", ()
            record.exc_info, record.exc_text = None, None
        return True


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              envvar="PORT", show_envvar=True,
              help="Port to listen on; $PORT when the option is not given (Cloud Run sets it).")
@click.option("--revision", default=None, help="Revision name (default: $ETHOS_REVISION or blue).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="uvicorn's own log level (the service logs JSON lines itself).")
@click.option("--shutdown-grace", default=5.0, show_default=True, type=click.FloatRange(0, 3600),
              envvar="ETHOS_SHUTDOWN_GRACE_S", show_envvar=True,
              help="On SIGTERM or Ctrl-C: seconds the requests in flight (streams too) get to"
                   " finish before they are cut; then the process exits 0.")
def serve(host: str, port: int, revision: str | None, log_level: str, shutdown_grace: float) -> None:
    """Serve the marketing chat API on HOST:PORT."""
    import uvicorn
    from pydantic import ValidationError

    from ..service import create_app
    from ..service.logs import configure
    from ..settings import Settings

    if revision:
        os.environ["ETHOS_REVISION"] = revision
    try:
        settings = Settings()
    except ValidationError as e:
        errs = "; ".join(f"ETHOS_{'_'.join(map(str, x['loc'])).upper()}: {x['msg']}" for x in e.errors())
        raise CLIError(f"invalid settings: {errs}", 2) from None
    configure(settings.revision, settings.log_file)
    try:
        app = create_app(settings)
    except ValueError as e:
        raise CLIError(str(e), 2) from None
    if not settings.admin_api_key.get_secret_value():
        click.echo(
            "note: ETHOS_ADMIN_API_KEY is not set; the admin routes answer 503 until it is.",
            err=True,
        )
    click.echo(
        f"ethos {settings.revision} serving on http://{host}:{port}"
        f" (cache: {app.state.ethos.cache.store.backend}, answerer: {app.state.ethos.answerer.id})",
        err=True,
    )
    state = app.state.ethos
    state.wait_for_model = False
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False,
        # uvicorn annotates this int, but only hands it to asyncio.timeout(), which takes any
        # number of seconds: a fractional grace works as given
        timeout_graceful_shutdown=shutdown_grace,  # type: ignore[arg-type]
    ))
    # uvicorn stops on SIGTERM (closes the listener, lets the requests in flight finish for
    # up to the grace, runs the app's shutdown), then raises the signal again with the handler
    # it found: with the default one the process would die of SIGTERM (exit 143), which Cloud
    # Run and podman report as a crash. This handler turns that into an orderly exit 0, and
    # a SIGTERM that comes before uvicorn listens stops the server as soon as it has started.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: setattr(server, "should_exit", True))
    logging.getLogger("uvicorn.error").addFilter(_CutAtShutdown(server))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise CLIError(f"could not serve on {host}:{port}; see the log above", 3)
    if state.semantic_loading():
        # Stopped while the embedding model was still loading: leave now rather than wait
        # for it or let interpreter shutdown abort inside torch. The cache was closed.
        logging.shutdown()
        os._exit(0)
