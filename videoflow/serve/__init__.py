"""`videoflow serve`: the jobs API, live status (server-sent events) and a web page on localhost."""

from videoflow.serve.app import LocalServer, serve

__all__ = ["LocalServer", "serve"]
