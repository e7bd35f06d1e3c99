"""WSGI entry for gunicorn: ``gunicorn -w 2 bot.wsgi:app`` (reads TAOYUAN_CONFIG like the CLI).

Refuses to load when the configuration is not safe for production: :func:`bot.app.create_app`
checks :func:`bot.core.config.production_blockers` (each blocker logged at CRITICAL) and raises
:class:`~bot.core.config.ConfigError`, so gunicorn stops ("Worker failed to boot"). So does
``gunicorn 'bot.app:create_app()'``.
"""
from bot.app import create_app
from bot.core.config import load_config
from bot.core.logging import configure_logging

_config = load_config()
configure_logging(_config.app.get("log_level", "INFO"))
app = create_app(_config)
