"""Generic helpers every app may use: the domain errors, the REST error shape, the request
guard against null characters, Channels' database decorator with its types. It imports
nothing from the project (the contracts in pyproject.toml)."""
