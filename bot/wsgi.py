"""WSGI entry for gunicorn: ``gunicorn -w 2 bot.wsgi:app`` (reads TAOYUAN_CONFIG like the CLI)."""
from bot.app import create_app
from bot.config import load_config
from bot.logsetup import configure_logging

_config = load_config()
configure_logging(_config.app.get("log_level", "INFO"))
app = create_app(_config)
