"""WSGI entry for gunicorn: ``gunicorn -w 2 bot.wsgi:app`` (reads TAOYUAN_CONFIG like the CLI)."""
from bot.app import create_app

app = create_app()
