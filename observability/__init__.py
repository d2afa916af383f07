"""Logging, redaction, Sentry, metrics, health probes, client addresses and throttles.

Settings import it to configure the process, so it imports no app, only ``foundation``
(the layer contract in pyproject.toml)."""
