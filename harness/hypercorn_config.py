"""hypercorn's settings for ``harness.processes.server_command`` (``--config python:...``):
the project's WebSocket message limit, warnings only, no access log."""

websocket_max_message_size = 65536
loglevel = "WARNING"
accesslog = None
