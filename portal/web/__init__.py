"""The portal's web pages: the taxpayer cabinet and the STC dashboard (server-rendered
Jinja2, no JavaScript needed), with their sign-in, sessions, CSRF and language handling.

- ``services.py`` — ``WebServices``: everything the pages use, made in the app's lifespan.
- ``security.py`` — password KDF, session tokens and cookies, CSRF, throttles.
- ``i18n.py`` — the text catalogues (``portal/locales/<lang>.yaml``) and language choice.
- ``render.py`` — the Jinja2 environment, filters (money, dates, masking).
- ``auth.py`` — sign-in (taxpayer code, staff password), sign-out, language switch.
- ``clients.py`` — the client a sign-in throttle counts against (trusted proxies, IPv6 /64).
- ``cabinet.py`` — the taxpayer's returns, lines, sources, decisions, receipts, inbox.
- ``dashboard.py`` — the STC dashboard, CSV exports, API-key management, ``/metrics``.
- ``figures.py`` — the dashboard's figures (one computation for pages, CSV and metrics).
- ``disclosure.py`` — statistical disclosure control of those figures (small counts hidden).
- ``charts.py`` — server-rendered SVG charts; ``qr.py`` — the Telegram link as an SVG QR.
"""
