"""The OpenAPI document is one a client generator accepts, and the client it generates talks to the platform.

Institutions integrate their core-banking systems from the published spec, so the spec must validate
(openapi-spec-validator), give every schema and operation one unambiguous name, and turn into a client with
``openapi-python-client`` without a warning; the generated client is then driven against the app itself.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from tests.conftest import make_settings
from xinyidai.app import create_app
from xinyidai.db import Database
from xinyidai.kernel.clock import FrozenClock

BIN = Path(sys.executable).parent


@pytest.fixture
def client(db: Database, database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url), db=db, clock=clock)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_spec_is_valid_openapi_with_unique_names(spec: dict[str, Any]) -> None:
    validate(spec)
    operation_ids = Counter(op["operationId"] for path in spec["paths"].values() for op in path.values())
    assert operation_ids
    assert max(operation_ids.values()) == 1, [k for k, n in operation_ids.items() if n > 1]
    # A module-qualified component name means two models share a class name: generators cannot tell them apart.
    schemas = spec["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("xinyidai__") or name.endswith(("-Input", "-Output"))]
    # Operation ids are the handlers' names: what a generated client calls.
    assert {"get_catalog", "request_authorization", "withdraw_application", "withdraw_product"} <= set(operation_ids)


@pytest.mark.skipif(
    not (BIN / "openapi-python-client").exists(),
    reason="openapi-python-client (a dev dependency) is not installed in this environment",
)
def test_a_client_generator_accepts_the_spec_and_its_client_works(
    spec: dict[str, Any], client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "xinyidai_client"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output, output
    assert "Unable" not in output, output

    monkeypatch.syspath_prepend(str(tmp_path))
    generated = importlib.import_module("xinyidai_client")
    get_catalog = importlib.import_module("xinyidai_client.api.catalog.get_catalog")
    health = importlib.import_module("xinyidai_client.api.ops.health")
    api = generated.Client(base_url="http://testserver")
    api.set_httpx_client(client)  # the TestClient is an httpx client bound to the app

    assert health.sync_detailed(client=api).status_code == 200
    catalog = get_catalog.sync_detailed(client=api)
    assert catalog.status_code == 200
    assert json.loads(catalog.content)["items"]
