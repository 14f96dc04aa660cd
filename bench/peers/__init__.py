"""Servers the hub is compared with (naive Starlette, python-socketio) and the trivial one that measures the client."""
