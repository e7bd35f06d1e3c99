"""A minimal, independent Flask app: the second baseline of bench/webhook.py (issue 14).

Nothing of ours is imported: one view that reads the request body and answers ``success``,
the way a bare Flask WeChat endpoint does before any signature check or reply. bench_app.py
mounts it at ``/flask`` (werkzeug's DispatcherMiddleware, in front of our app), so it runs in
the same gunicorn workers, with the same settings, as ``/bare`` and ``/wechat``.
"""
from flask import Flask, request

app = Flask(__name__)


@app.post("/")
def wechat():
    """Read the body and answer ``success`` (text/plain)."""
    request.get_data()
    return "success", 200, {"Content-Type": "text/plain; charset=utf-8"}
