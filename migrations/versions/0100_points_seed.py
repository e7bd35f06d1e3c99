"""service points: load the seed directory (the article's points and the 22 towns)

Revision ID: 0101_points_seed
Revises: 0100_points
Create Date: 2026-11-29

A data migration so a fresh database already answers "附近" / "桃城" / "调解". It inserts
only points that are not there yet (by name + town) and never updates: staff edits win.
The seed coordinates are WGS-84 town-centre estimates used as GCJ-02 (see models/data/README.md).
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

import models.base


revision = '0101_points_seed'
down_revision = '0100_points'
branch_labels = None
depends_on = None

_COLUMNS = ("name", "kind", "platform", "town", "village", "address", "lat", "lng",
            "approximate", "phone", "hours", "services", "description", "active")


def _table() -> sa.Table:
    cols = [sa.column(c) for c in _COLUMNS]
    return sa.table("service_points", *cols, sa.column("updated_at", models.base.AwareDateTime()))


def _seed() -> list[dict]:
    from models.directory_io import read_table, validate_table
    from models.directory import SEED_FILE

    records, errors = validate_table(read_table(SEED_FILE))
    if errors:
        raise RuntimeError("seed file has bad rows: " + "; ".join(map(str, errors)))
    return records


def upgrade() -> None:
    bind = op.get_bind()
    have = {(r.name, r.town) for r in bind.execute(sa.text("SELECT name, town FROM service_points"))}
    now = datetime.now(timezone.utc)
    rows = [{**{c: rec[c] for c in _COLUMNS}, "updated_at": now}
            for rec in _seed() if (rec["name"], rec["town"]) not in have]
    if rows:
        op.bulk_insert(_table(), rows)


def downgrade() -> None:
    table = _table()
    for rec in _seed():
        op.execute(table.delete().where(table.c.name == rec["name"], table.c.town == rec["town"]))
