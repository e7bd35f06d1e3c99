"""The feature manifest: the one list of features, which every layer discovers its parts from.

A feature has one name in every layer: ``handlers/<name>.py`` (its router rules),
``models/<name>.py`` (tables and operations), ``scheduler/<name>.py`` (jobs),
``bot/cli/<name>.py`` (commands), ``bot/console/<name>.py`` (pages); a big feature may add
parts named ``<name>_<part>.py`` beside it (``handlers/activities_signup.py``,
``models/directory_io.py``). Each layer walks :data:`FEATURES` in order, imports
``<layer>.<name>`` and then its parts, those that exist, and calls the ``register(...)`` hook
of each that has one (the hook's arguments are the layer's own: a router, a click group, an
admin ...; a part without a hook, e.g. ``handlers/help_messages.py``, is only imported).
Adding a feature = its own files + one line here.

The order is the routing order (safety first); it only matters between router rules of equal
priority (「报名志愿者」 is a volunteers rule and an activities-signup pattern: volunteers
come first).
"""
from __future__ import annotations

import pkgutil
from importlib import import_module
from types import ModuleType
from typing import Iterator

#: Every feature, in routing order.
FEATURES: list[str] = [
    "safety",       # danger words: hotlines first, an urgent help request
    "help",         # 求助 / 留言 and staff answers
    "mediation",    # 预约调解
    "welcome",      # subscribe, menu, fallback
    "contact",      # 联系方式: the federation's phone, address, office hours
    "columns",      # 栏目 and past articles
    "volunteers",   # 志愿者 registration and hours
    "activities",   # activities, signups, check-in
    "privacy",      # 「删除我的信息」
    "reminders",    # 订阅提醒, scheduled reminders, notices
    "directory",    # 近邻娘家 service points
    "broadcasts",   # 群发
    "menu",         # 自定义菜单: stored, edited in the console, published
    "stats",        # monthly figures
    "staff",        # console accounts
    "keywords",     # staff-defined keyword replies
    "intents",      # free-form messages by intent (classifier, 没听懂的话); the default answer
    "followers",    # who follows the account
]


def module_names(layer: str, features: list[str] | None = None) -> Iterator[str]:
    """The module paths of ``layer``'s parts (``"handlers"`` -> ``"handlers.safety"``,
    ``"handlers.help"``, ``"handlers.help_messages"`` ...) for ``features`` (default
    :data:`FEATURES`), in order, that exist in this checkout: ``<layer>.<feature>`` first, then
    its ``<layer>.<feature>_<part>`` modules by name."""
    package = import_module(layer)
    present = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
    for feature in features or FEATURES:
        if feature in present:
            yield f"{layer}.{feature}"
        yield from (f"{layer}.{m}" for m in present if m.startswith(feature + "_"))


def feature_modules(layer: str, features: list[str] | None = None) -> Iterator[ModuleType]:
    """Import and yield each module of :func:`module_names`. An import error in a module that
    exists is raised, never hidden."""
    for name in module_names(layer, features):
        yield import_module(name)


def registrations(layer: str, features: list[str] | None = None) -> Iterator:
    """The ``register`` hooks of ``layer``'s feature modules (:func:`feature_modules`), in
    order; modules without one are imported and skipped."""
    for module in feature_modules(layer, features):
        hook = getattr(module, "register", None)
        if hook is not None:
            yield hook
