"""WSGI module for the webhook benchmark: the real app plus baselines, ``/bare`` and ``/flask``.

``gunicorn --pythonpath bench bench_app:app`` (with ``TAOYUAN_CONFIG`` set) serves the real
webhook at ``/wechat`` and, on the same server settings, ``/bare``: a Flask view that reads the
body and answers ``success`` with nothing else. The ratio webhook/bare is the cost of our
pipeline (signature, XML, de-duplication, handlers, database) over Flask + gunicorn themselves.

``/flask/`` is bench/flask_app.py, a separate minimal Flask app (none of our code, none of our
request hooks), mounted in front of ours: what peers' plain Flask endpoints are compared with.

``/wechat-nointent`` is the same webhook pipeline (same services, same process) with a router
built without ``handlers.intents``: the intent stage switched off, so the bench can print what
the stage costs (issue 14: the plaintext ratio may drop by at most 5 % with it on). Only the
bench mounts it; the production app never has it.
"""
from flask import Response, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import flask_app
from bot.app import create_app
from bot.webhook import Webhook, mount
from handlers import FEATURES, build_router

#: The handler modules without the intent stage (its danger net, INTENT rule and default answer).
NO_INTENTS = [m for m in FEATURES if m.rsplit(".", 1)[1].split("_")[0] != "intents"]

app = create_app()
app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/flask": flask_app.app})
mount(app, Webhook(app.extensions["taoyuan"], build_router(NO_INTENTS)),
      "/wechat-nointent", "wechat_nointent")


@app.route("/bare", methods=["GET", "POST"])
def bare():
    """Read the request body (like the webhook does) and answer ``success``."""
    request.get_data()
    return Response("success", 200, content_type="text/plain; charset=utf-8")
