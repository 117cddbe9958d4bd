"""Interface-call fixtures: a generated delivery, the department simulator served by uvicorn on 127.0.0.1, and
a connector registry that records its backoff waits."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import ADMIN
from xinyidai import exchange
from xinyidai.db import Database
from xinyidai.demodata import generate
from xinyidai.kernel.clock import FrozenClock
from xinyidai.kernel.pii import PiiCipher
from xinyidai.simulator import DataIndex, RunningSimulator, create_simulator_app, running

TOKEN = "dept-token-for-tests"
#: The simulated departments' clock: their answers are current as of this instant.
SIM_AS_OF = datetime(2026, 6, 30, 1, 0, tzinfo=UTC)
#: Short timings so that failure paths cost milliseconds, not seconds.
FAST: dict[str, int] = {
    "timeout_ms": 300,
    "max_attempts": 1,
    "backoff_base_ms": 10,
    "backoff_cap_ms": 40,
    "deadline_ms": 2_000,
    "breaker_failures": 3,
    "breaker_window_s": 60,
    "breaker_cooldown_s": 30,
}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic delivery (the same files `xinyidai demo-data generate` writes)."""
    out = tmp_path_factory.mktemp("delivery")
    generate(enterprises=40, seed=20_260_630, out_dir=out)
    return out


@pytest.fixture(scope="module")
def data_index(delivery: Path) -> DataIndex:
    """The delivery indexed by subject."""
    return DataIndex.load(delivery)


@pytest.fixture(scope="module")
def simulator_server(data_index: DataIndex) -> Iterator[RunningSimulator]:
    """The department simulator, served by uvicorn in a thread for the whole module."""
    app = create_simulator_app(data_index, default_token=TOKEN, clock=FrozenClock(SIM_AS_OF))
    with running(app) as sim:
        yield sim


@pytest.fixture
def simulator(simulator_server: RunningSimulator) -> Iterator[RunningSimulator]:
    """The running simulator, back to normal with its counters at zero for each test."""
    simulator_server.state.reset()
    yield simulator_server
    simulator_server.state.reset()


def control(sim: RunningSimulator, **plan: Any) -> None:
    """Set the simulator's fault plan through its control endpoint, as a demo operator would."""
    response = httpx.post(f"{sim.url}/_control", json=plan, timeout=5)
    assert response.status_code == 200, response.text


@dataclass
class RecordingSleep:
    """Sleeps for real (the waits are milliseconds) and remembers how long each wait was."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    """The waits the registry's connectors made."""
    return RecordingSleep()


@pytest.fixture
def registry(cipher: PiiCipher, sleeps: RecordingSleep) -> Iterator[exchange.ConnectorRegistry]:
    """A fresh registry (closed breakers), as a newly started process has."""
    reg = exchange.ConnectorRegistry(cipher=cipher, sleep=sleeps, rng=random.Random(7))
    yield reg
    reg.close()


def configure(
    db: Database, clock: FrozenClock, cipher: PiiCipher, sim: RunningSimulator, *, source: str = "tax", **overrides: int
) -> None:
    """Point a source at the simulator with the fast test timings (overridable)."""
    exchange.set_endpoint(
        db,
        actor=ADMIN,
        clock=clock,
        cipher=cipher,
        source=source,
        base_url=f"{sim.url}/{source}",
        token=TOKEN,
        **{**FAST, **overrides},
    )


def subject_with(index: DataIndex, item: str) -> str:
    """A USCC that has rows of the item in the delivery."""
    return next(iter(index.subjects(item)))
