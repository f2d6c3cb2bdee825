"""The OpenAPI document of the portal, as committed in ``docs/openapi.json``.

``proactax portal openapi --output docs/openapi.json`` rewrites it; a unit test fails when
the committed file differs from what the app serves at ``/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from core.settings import Settings

COMMITTED_PATH = "docs/openapi.json"


def openapi_document() -> dict[str, Any]:
    from portal.app import create_app

    # The document does not depend on settings: any will do, nothing is connected.
    return create_app(Settings.from_env({})).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
