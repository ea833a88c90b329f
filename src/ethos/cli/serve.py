"""``ethos serve``: run one revision of the service."""

from __future__ import annotations

import logging
import os

import click

from .errors import CLIError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--revision", default=None, help="Revision name (default: $ETHOS_REVISION or blue).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              help="uvicorn's own log level (the service logs JSON lines itself).")
def serve(host: str, port: int, revision: str | None, log_level: str) -> None:
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
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=5)
    if state.semantic_loading():
        # Stopped while the embedding model was still loading: leave now rather than wait
        # for it or let interpreter shutdown abort inside torch. The cache was closed.
        logging.shutdown()
        os._exit(0)
