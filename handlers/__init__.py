"""Handlers: the router plus one module per feature.

Each feature module exposes ``register(router: Router) -> None``. :data:`FEATURES` is the list
the webhook loads, in order (order only matters between rules of equal priority).
"""
from __future__ import annotations

from importlib import import_module

from handlers.router import Router

FEATURES = [
    "handlers.safety",
    "handlers.help",
    "handlers.welcome",
    "handlers.columns",
    "handlers.activities",
    "handlers.volunteers",
    "handlers.activities_signup",
    "handlers.privacy",
    "handlers.reminders",
    "handlers.directory",
]


def build_router(features: list[str] | None = None) -> Router:
    """A router with every feature's rules registered."""
    router = Router()
    for name in features or FEATURES:
        import_module(name).register(router)
    return router
