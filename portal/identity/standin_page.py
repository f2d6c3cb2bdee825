"""The page both identity stand-ins show instead of a real sign-in: choose a demo
taxpayer (or type any PINFL), optionally as a company representative. English only: it
is a developer's tool, like the Telegram emulator's page, and says so on every line."""

from __future__ import annotations

import functools

import jinja2

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ provider }} stand-in — choose a demo taxpayer</title>
<style>
body{font-family:sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;color:#1b1b1b}
.banner{background:#7a1f00;color:#fff;padding:.75rem;font-weight:bold}
label{display:block;margin:.4rem 0} button{min-height:44px;padding:.5rem 1rem}
input[type=text]{min-height:36px;font-size:1rem}
:focus{outline:3px solid #0b5cad;outline-offset:2px}
</style></head>
<body><main>
<p class="banner" role="note">STAND-IN for {{ provider }}, for development and tests only.
This is not {{ provider }}: nobody's identity is checked here.</p>
<h1>Sign in to {{ client_id }} as a demo taxpayer</h1>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
{% for name, value in hidden.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}
<fieldset><legend>Demo taxpayers (from the population register)</legend>
{% for pinfl, name, lang in people %}
<label><input type="radio" name="pinfl" value="{{ pinfl }}"{% if loop.first %} checked{% endif %}>
{{ name or "(no name)" }} — {{ pinfl }}{% if lang %} ({{ lang }}){% endif %}</label>
{% else %}<p>No people in the register yet: type a PINFL below.</p>
{% endfor %}
</fieldset>
<label for="other">Or any 14-digit PINFL (for example one not in the register)</label>
<input type="text" id="other" name="other_pinfl" inputmode="numeric" maxlength="14">
<label><input type="checkbox" name="legal" value="1"> Sign in as a company representative
(legal entity)</label>
<button type="submit">Sign in as this taxpayer</button>
</form>
<form method="post" action="{{ action }}">
{% for name, value in hidden.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<input type="hidden" name="deny" value="1">
<button type="submit">Cancel (access denied)</button></form>
</main></body></html>
"""


@functools.cache
def template() -> jinja2.Template:
    return jinja2.Environment(autoescape=True).from_string(PAGE)


def chosen_pinfl(form: dict[str, str]) -> str | None:
    other = form.get("other_pinfl", "").strip()
    pinfl = other or form.get("pinfl", "").strip()
    return pinfl if pinfl.isascii() and pinfl.isdigit() and len(pinfl) == 14 else None
