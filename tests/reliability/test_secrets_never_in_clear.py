"""No token or secret ever appears in clear: not in logs, exception text, status output or files.

A whole sync runs with every logger at DEBUG (httpx and httpcore included) against a sandbox
served on loopback: connect through the authorize redirect, settings, contact sync, backfill,
``pm-xero worker`` (with access tokens expired under it, so refresh tokens rotate, and one
organisation disconnected, so errors are recorded), ``pm-xero status`` and ``status --json``.
Every access and refresh token the sandbox issued is captured at its token endpoint; with the
client secret, the host secret and the plugin's derived secret they are searched for in every
log record (message, arguments, traceback), the CLI output, and every file under the data
directory as bytes (ledger, tokens database, WAL and SHM files) – also hex and base64 encoded.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.reliability_practice import CLIENT_SECRET, app_env, make_sandbox, prepare

from hookspecs.refhost import RefHost
from pm_xero_plugin.cli.main import main
from pm_xero_plugin.sandbox import Sandbox

SEED = 4242


class TokenTap:
    """Wraps the sandbox's token issuing to keep every token it hands out."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.tokens: set[str] = set()
        identity = sandbox.identity
        original = identity._issue

        def issue(*args: Any, **kwargs: Any) -> Any:
            response = original(*args, **kwargs)
            for name in ("access_token", "refresh_token"):
                value = _json(response.body).get(name)
                if value:
                    self.tokens.add(str(value))
            return response

        identity._issue = issue  # type: ignore[method-assign]


def _json(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _forms(secret: str | bytes) -> list[bytes]:
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw)]
    return [f.rstrip(b"=") for f in forms if len(f) >= 8]


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    root = logging.getLogger()
    previous = root.level
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "pm_xero_plugin", "hookspecs", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        yield caplog
    finally:
        root.setLevel(previous)


def test_no_token_or_secret_in_logs_errors_status_or_files(
    tmp_path: Path, debug_everything: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog = debug_everything
    sandbox = make_sandbox(orgs=2, seed=SEED)
    tap = TokenTap(sandbox)
    outputs: list[str] = []
    with sandbox.serve(port=0) as server:
        prepared = prepare(
            tmp_path / "pm",
            sandbox,
            server.url,
            seed=SEED % 100,
            locations=2,
            clients=15,
            days=40,
            window_days=30,
        )
        for name, value in app_env(server.url).items():
            monkeypatch.setenv(name, value)
        tenants = sorted(set(prepared.tenants.values()))
        for tenant in tenants:
            sandbox.faults(tenant).expire_tokens_now()  # the worker must refresh (rotate)
        sandbox.faults(tenants[0]).script.extend(["token_expired", "500", "lost"])
        args = ["--data-dir", str(prepared.root)]
        runner = CliRunner()
        first = runner.invoke(main, ["worker", "--once", "--threads", "2", *args])
        outputs.append(first.output)
        assert first.exit_code == 0, first.output
        sandbox.faults(tenants[1]).disconnect()  # errors with Xero's 403 in the ledger
        for tenant in tenants:
            sandbox.faults(tenant).expire_tokens_now()
        for command in (["worker", "--once"], ["status"], ["status", "--json"]):
            result = runner.invoke(main, [*command, *args])
            outputs.append(result.output)
            assert result.exit_code == 0, result.output
    assert len(tap.tokens) >= 6, "the run must have issued and rotated tokens"

    host = RefHost(prepared.root, load_entrypoints=False)
    try:
        host_secret = host._host_secret()
        plugin_secret = host.secret("xero")
    finally:
        host.close()
    secrets: dict[str, list[bytes]] = {
        "client secret": _forms(CLIENT_SECRET),
        "host secret": _forms(host_secret),
        "plugin secret": _forms(plugin_secret),
    }
    for n, token in enumerate(sorted(tap.tokens)):
        secrets[f"token #{n} ({token[:7]}…)"] = [token.encode()]

    texts = _everything_written(caplog, outputs, prepared.root)

    leaks = [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, forms in secrets.items()
        if any(form in text for form in forms)
    ]
    assert leaks == []


def _everything_written(
    caplog: pytest.LogCaptureFixture, outputs: list[str], root: Path
) -> dict[str, bytes]:
    """Every log record (message, args, traceback), CLI output and file of the run, by name."""
    texts: dict[str, bytes] = {}
    for i, record in enumerate(caplog.records):
        parts = [record.getMessage(), repr(record.args)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        texts[f"log record {i} ({record.name})"] = "\n".join(parts).encode()
    for i, out in enumerate(outputs):
        texts[f"CLI output {i}"] = out.encode()
    assert any(r.name.startswith("httpx") for r in caplog.records), "httpx logged nothing"
    for path in sorted((root / "plugins").rglob("*")):
        if path.is_file():
            texts[f"file {path.relative_to(root)}"] = path.read_bytes()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "secret.key":
            texts.setdefault(f"file {path.relative_to(root)}", path.read_bytes())
    assert any("tokens" in name for name in texts), sorted(texts)
    return texts
