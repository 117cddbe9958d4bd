"""`xinyidai serve`: the web server (API, pages, background jobs)."""

from __future__ import annotations

import typer

from xinyidai.cli.root import settings


def serve(
    host: str | None = typer.Option(None, help="Bind address (default: XINYIDAI_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: XINYIDAI_PORT)."),
) -> None:
    """Serve the platform with uvicorn (one worker; run several behind a proxy in production)."""
    import uvicorn

    from xinyidai.app import create_app

    s = settings()
    # uvicorn's own access line is off: RequestContextMiddleware logs every request once, with its request id.
    # loop/http "auto" take uvloop and httptools, which are installed with uvicorn[standard].
    uvicorn.run(
        create_app(s),
        host=host or s.host,
        port=port or s.port,
        log_config=None,
        proxy_headers=True,
        access_log=False,
        loop="auto",
        http="auto",
    )


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("serve")(serve)
