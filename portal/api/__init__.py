"""The integrator HTTP API, mounted under ``/api/v1``."""
