"""Handlers: the router plus one module per feature.

Each feature module exposes ``register(router: Router) -> None``. :data:`FEATURES` is the list
the webhook loads, in order (order only matters between rules of equal priority).
"""
from __future__ import annotations

from importlib import import_module

from handlers.router import Router

FEATURES = [
    "handlers.danger",
    "handlers.help_requests",
    "handlers.welcome",
    "handlers.columns",
    "handlers.activities",
    "handlers.volunteer",
    "handlers.signup",
    "handlers.privacy",
    "handlers.subscriptions",
    "handlers.services",
]


def build_router(features: list[str] | None = None) -> Router:
    """A router with every feature's rules registered."""
    router = Router()
    for name in features or FEATURES:
        import_module(name).register(router)
    return router
