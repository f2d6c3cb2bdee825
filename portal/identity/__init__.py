"""Sign-in through an identity provider: the port (``port.py``), its adapters (OneID's
own OAuth 2.0 grant types in ``oneid.py``, standard OpenID Connect in ``oidc.py``) and
local stand-ins of both providers for development and tests (``standin_*.py``)."""
