"""The HTTP server: FastAPI on Starlette, run by uvicorn (the ``server`` extra)."""

from .app import create_app
from .context import Settings
from .run import background

__all__ = ["Settings", "background", "create_app"]
