"""Bytes per answer for the ten commonest questions (issue 14, item 9): is a reply short enough
to read on a phone without scrolling?

For each question the first reply page is measured three ways: UTF-8 bytes of the Content
WeChat receives (its limit is 2048), the characters she sees (a ``<a href="…">查看地图</a>``
link shows as its words), and lines. Runs in-process: a throwaway SQLite database with the
seed service points and one 爱心义剪 activity, an in-process Redis stand-in; nothing is sent.
To compare with another checkout (before/after), point ``--root`` at it::

    .venv/bin/python bench/answers.py                      # this checkout ("after")
    .venv/bin/python bench/answers.py --root /work/main    # another checkout ("before")
    .venv/bin/python bench/answers.py --markdown /tmp/answers.md

Exits 0 (it is a report).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

#: What women ask most (the directory's towns and needs, her position, the 17th's haircut).
QUESTIONS: list[tuple[str, object]] = [
    ("[位置] 坑仔口镇", (25.33, 117.97)),
    ("附近有调解室吗", None),
    ("调解", None),
    ("桃城", None),
    ("坑仔口 调解", None),
    ("早教", None),
    ("妇女微家", None),
    ("电商", None),
    ("纠纷化解", None),
    ("义剪", None),
]
_LINK = re.compile(r'<a href="[^"]*">([^<]*)</a>')
#: Lines of text a phone shows without scrolling (about; 6-inch screen, default font).
SCREEN_LINES = 14


def visible(text: str) -> str:
    """What she sees: a link shows as its words."""
    return _LINK.sub(r"\1", text)


def measure(root: Path) -> list[tuple[str, int, int, int]]:
    """``[(question, bytes, visible characters, lines), ...]`` with the code of ``root``."""
    sys.path.insert(0, str(root))
    from bot.app import wire_services
    from bot.core.config import load_config
    from bot.core.db import upgrade
    from bot.wechat.updates import Location, Update
    from handlers import build_router
    from handlers.router import Context
    from models import activities as acts
    from models import directory
    from models.base import utcnow

    tmp = Path(tempfile.mkdtemp(prefix="taoyuan-answers-"))
    url = f"sqlite:///{tmp / 'answers.db'}"
    upgrade(url)
    services = wire_services(load_config(overrides={
        "app": {"instance_dir": str(tmp), "secret_key": "bench"},
        "database": {"url": url}, "redis": {"url": "", "prefix": "answers:"}}, environ={}))
    with services.db.session() as s:
        directory.load_seed(s)
        start = utcnow() + timedelta(days=5)
        acts.add_activity(s, title="爱心义剪进社区", category="爱心义剪", starts_at=start,
                          ends_at=start + timedelta(hours=3), capacity=30, place="桃城镇妇女微家",
                          allow_past=True)
    router = build_router()
    rows = []
    for n, (question, where) in enumerate(QUESTIONS):
        if where is None:
            update = Update(msg_type="text", openid=f"oAnswers{n:04d}", content=question,
                            msg_id=str(9000 + n))
        else:
            update = Update(msg_type="location", openid=f"oAnswers{n:04d}",
                            location=Location(*where), msg_id=str(9000 + n))
        with services.db.session() as s:
            reply = router.dispatch(Context(update=update, services=services, session=s))
        text = getattr(reply, "content", "") or ""
        seen = visible(text)
        rows.append((question, len(text.encode("utf-8")), len(seen), seen.count("\n") + 1))
    services.db.dispose()
    return rows


def report(rows, root: Path) -> str:
    lines = [f"answers of {root}", "",
             "| question | bytes | visible chars | lines |", "|---|---:|---:|---:|"]
    lines += [f"| {q} | {b} | {c} | {n} |" for q, b, c, n in rows]
    lines += ["", f"median bytes {statistics.median(r[1] for r in rows):.0f}, "
              f"max bytes {max(r[1] for r in rows)}, "
              f"median visible chars {statistics.median(r[2] for r in rows):.0f}, "
              f"median lines {statistics.median(r[3] for r in rows):.0f} "
              f"(a phone shows about {SCREEN_LINES} lines)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose code answers (default: this one)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    text = report(measure(args.root.resolve()), args.root.resolve())
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
