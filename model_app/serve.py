"""Start the model service: python -m model_app.serve (settings from environment variables)."""

import logging
import sys

import uvicorn

from model_app.app import ModelService
from model_app.settings import SettingsError, settings_from_env


def main() -> int:
    try:
        settings = settings_from_env()
    except SettingsError as error:
        print(f"model service: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        ModelService(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        # The service reads neither the client address nor the scheme: uvicorn's X-Forwarded-* rewriting
        # would only add a middleware call to every request.
        proxy_headers=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
