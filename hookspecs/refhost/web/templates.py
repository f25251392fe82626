"""The reference host's few pages (sign in and out, the plugin list, a plugin off), in Jinja2.

Kept inline rather than as files: they are a few short pages, and ``hookspecs`` then ships no
package data beyond ``py.typed``. Autoescaping is on for all of them.
"""

from __future__ import annotations

from typing import Any, Final

from jinja2 import DictLoader, Environment, StrictUndefined

__all__ = ["render"]

_BASE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Pet Manager{% endblock %} · Pet Manager</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2a33; background: #f6f8f9; }
header { background: #1d4f6e; color: #fff; padding: .6rem 1.2rem; display: flex;
         align-items: center; gap: 1rem; }
header a { color: #fff; }
header .who { margin-left: auto; }
header form { display: inline; }
main { max-width: 48rem; margin: 1.5rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .5rem .7rem; border-bottom: 1px solid #dde3e7; }
label { display: block; margin: .6rem 0 .2rem; }
input[type=text], input[type=password] { padding: .35rem; width: 16rem; }
button { padding: .35rem .8rem; cursor: pointer; }
.error { color: #a12020; }
.state-on { color: #1b6e2d; font-weight: bold; }
.state-off { color: #777; font-weight: bold; }
</style>
</head>
<body>
<header>
  <strong>Pet Manager</strong> <span>(reference host)</span>
  {% if member %}
  <a href="/plugins">Plugins</a>
  <span class="who">Signed in as {{ member.name }}{% if member.is_admin %} (admin){% endif %}</span>
  <form method="post" action="/logout">
    <input type="hidden" name="csrf" value="{{ csrf }}">
    <button type="submit">Sign out</button>
  </form>
  {% endif %}
</header>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"""

_LOGIN: Final = """{% extends "base.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/login">
  <input type="hidden" name="next" value="{{ next }}">
  <label for="user">User name</label>
  <input type="text" id="user" name="user" value="{{ user }}" autocomplete="username" autofocus>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password">
  <p><button type="submit">Sign in</button></p>
</form>
{% endblock %}
"""

_PLUGINS: Final = """{% extends "base.html" %}
{% block title %}Plugins{% endblock %}
{% block main %}
<h1>Plugins</h1>
{% if said %}<p role="status">{{ said }}</p>{% endif %}
{% if not member.is_admin %}
<p>Only an admin may switch plugins on or off or open their pages.</p>
{% endif %}
<table>
<thead><tr><th>Plugin</th><th>State</th><th></th><th></th></tr></thead>
<tbody>
{% for plugin in plugins %}
<tr data-plugin="{{ plugin.name }}">
  <td>{{ plugin.title }}</td>
  <td class="{{ 'state-on' if plugin.enabled else 'state-off' }}">
    {{ "On" if plugin.enabled else "Off" }}</td>
  <td>
  {% if member.is_admin %}
    <form method="post" action="/plugins">
      <input type="hidden" name="csrf" value="{{ csrf }}">
      <input type="hidden" name="plugin" value="{{ plugin.name }}">
      <input type="hidden" name="enabled" value="{{ 'off' if plugin.enabled else 'on' }}">
      <button type="submit">{{ "Switch off" if plugin.enabled else "Switch on" }}</button>
    </form>
  {% endif %}
  </td>
  <td>{% if plugin.href %}<a href="{{ plugin.href }}">Open its pages</a>{% endif %}</td>
</tr>
{% else %}
<tr><td colspan="4">No plugins are installed.</td></tr>
{% endfor %}
</tbody>
</table>
{% endblock %}
"""

_SWITCHED_OFF: Final = """{% extends "base.html" %}
{% block title %}{{ plugin }} is off{% endblock %}
{% block main %}
<h1>The {{ plugin }} plugin is switched off</h1>
<p>Its pages are not available while it is off.
{% if member.is_admin %}Switch it on on the <a href="/plugins">plugins page</a>.
{% else %}Ask an admin to switch it on on the <a href="/plugins">plugins page</a>.{% endif %}</p>
{% endblock %}
"""

_MESSAGE: Final = """{% extends "base.html" %}
{% block title %}{{ heading }}{% endblock %}
{% block main %}
<h1>{{ heading }}</h1>
<p>{{ message }}</p>
<p><a href="/plugins">Back to the plugins</a></p>
{% endblock %}
"""

_SIGN_OUT: Final = """{% extends "base.html" %}
{% block title %}Sign out{% endblock %}
{% block main %}
<h1>Sign out</h1>
<form method="post" action="/logout">
  <input type="hidden" name="csrf" value="{{ csrf }}">
  <p><button type="submit">Sign out of Pet Manager</button></p>
</form>
{% endblock %}
"""

_ENV: Final = Environment(
    loader=DictLoader(
        {
            "base.html": _BASE,
            "login.html": _LOGIN,
            "plugins.html": _PLUGINS,
            "switched_off.html": _SWITCHED_OFF,
            "message.html": _MESSAGE,
            "sign_out.html": _SIGN_OUT,
        }
    ),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **values: Any) -> str:
    """The page ``template`` filled with ``values`` (``member`` and ``csrf`` for the header)."""
    values.setdefault("member", None)
    values.setdefault("csrf", "")
    return _ENV.get_template(template).render(**values)
