"""SQLAlchemy models and the operations that change them.

Importing this package imports every model module so ``Base.metadata`` is complete (Alembic
and the tests rely on it). A new feature adds its module to :data:`MODEL_MODULES`.
"""
from importlib import import_module

from models.base import Base

MODEL_MODULES = [
    "models.follower",
    "models.keyword",
    "models.outbox",
    "models.staff",
    "models.audit",
    "models.article",
    "models.broadcast",
    "models.stats",
    "models.service_point",
    "models.activity",
    "models.volunteer",
    "models.notice",
    "models.reminder",
    "models.help_request",
    "models.mediation",
    "models.safety",
]

for _name in MODEL_MODULES:
    import_module(_name)

__all__ = ["Base"]
