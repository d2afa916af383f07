"""Real processes for the end-to-end tests and the benchmark (``harness.processes``)."""
