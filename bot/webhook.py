"""Placeholder: replaced by the real webhook."""


def init_app(app, services):
    pass
