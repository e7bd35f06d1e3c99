"""SQLAlchemy models and the operations that change them.

Importing this package imports every model module so ``Base.metadata`` is complete (Alembic
and the tests rely on it): the shared tables of :data:`SHARED_MODULES`, then every feature's
``models/<feature>.py`` (and its parts) named in the feature manifest,
:data:`bot.core.features.FEATURES`. A new feature adds one line there, not here.
"""
from importlib import import_module

from bot.core.features import module_names
from models.base import Base

#: Tables that belong to no one feature (the outbox of dry run, the audit log, notices).
SHARED_MODULES = ["models.outbox", "models.audit", "models.notice"]

#: Every model module, in import order.
MODEL_MODULES = SHARED_MODULES + [n for n in module_names("models") if n not in SHARED_MODULES]

for _name in MODEL_MODULES:
    import_module(_name)

__all__ = ["Base"]
