"""The portal: one ASGI app (FastAPI) for every web surface of the service.

Layout (each surface a package with its routes, the framework-free logic in ``services``):

- ``app.py`` — ``create_app(settings, *, producer=None, clock=None)``: the composition root
  of the web process; builds nothing at import time.
- ``services/`` — framework-free use cases, shared by routes, the CLI and later the
  supervisor UI: ``api_keys.ApiKeyService`` (issue, list, revoke, authenticate integrator
  keys), ``ingest.IngestService`` (validate, deduplicate, publish registry events).
- ``api/`` — the integrator HTTP API (``/api/v1``): JSON only, API-key auth, OpenAPI
  models in ``api/schemas.py``.
- ``kafka.py`` — the Kafka side: an aiokafka producer (acks=all, idempotent) behind a
  small publisher.
- ``validation.py`` — the one call into the stream's event validation.
- ``ingest_client.py`` — a small httpx client of the ingest API (the mock registries'
  ``--via http``).
- ``openapi.py`` — the OpenAPI document as committed in ``docs/openapi.json``.

- ``web/`` — the taxpayer cabinet and the STC dashboard (server-rendered Jinja2, no JS):
  sign-in, sessions, CSRF, pages, CSV, SVG charts, ``/metrics``; ``templates/``,
  ``static/`` and ``locales/`` beside it. See docs/portal.md.
"""
