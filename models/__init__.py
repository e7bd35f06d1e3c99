"""SQLAlchemy models and the operations that change them.

Importing this package imports every model module so ``Base.metadata`` is complete (Alembic
and the tests rely on it). A new feature adds its module to :data:`MODEL_MODULES`.
"""
from importlib import import_module

from models.base import Base

MODEL_MODULES = [
    "models.followers",
    "models.keywords",
    "models.outbox",
    "models.staff",
    "models.audit",
    "models.columns",
    "models.broadcasts",
    "models.stats",
    "models.directory",
    "models.activities",
    "models.volunteers",
    "models.notice",
    "models.reminders",
    "models.help",
]

for _name in MODEL_MODULES:
    import_module(_name)

__all__ = ["Base"]
