"""Handlers: the router plus one module per feature.

Each feature module exposes ``register(router: Router) -> None``. :data:`FEATURES` is the list
the webhook loads, in order (order only matters between rules of equal priority): the handler
modules of the feature manifest (:data:`bot.core.features.FEATURES`), found by name.
"""
from __future__ import annotations

from importlib import import_module

from bot.core.features import module_names
from handlers.router import Router

#: The handler modules of every feature, in routing order (from the feature manifest).
FEATURES = list(module_names("handlers"))


def build_router(features: list[str] | None = None) -> Router:
    """A router with every feature's rules registered; ``features``: module names to load
    instead of :data:`FEATURES` (tests). A module without a ``register`` hook is skipped."""
    router = Router()
    for name in features or FEATURES:
        hook = getattr(import_module(name), "register", None)
        if hook is not None:
            hook(router)
    return router
