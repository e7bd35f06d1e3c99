"""WSGI entry for gunicorn: ``gunicorn -w 2 bot.wsgi:app`` (reads TAOYUAN_CONFIG like the CLI).

Refuses to load when the configuration is not safe for production
(:func:`bot.core.config.production_blockers`): each blocker is logged at CRITICAL and
:class:`~bot.core.config.ConfigError` is raised, so gunicorn stops ("Worker failed to boot").
"""
import logging

from bot.app import create_app
from bot.core.config import ConfigError, load_config, production_blockers
from bot.core.logging import configure_logging

_config = load_config()
configure_logging(_config.app.get("log_level", "INFO"))
_blockers = production_blockers(_config)
if _blockers:
    for _line in _blockers:
        logging.getLogger(__name__).critical("拒绝启动 / refusing to start: %s", _line)
    raise ConfigError("\n".join(_blockers))
app = create_app(_config)
