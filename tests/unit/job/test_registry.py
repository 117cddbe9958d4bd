"""The job registry: what may be registered, defaults, periodic kinds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from xinyidai.job import JobContext, JobRegistry, register_builtin_jobs


def _noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


def test_registered_kinds_take_registry_defaults() -> None:
    registry = JobRegistry(default_max_attempts=7, lease=timedelta(minutes=3))
    registry.register("report.expire", _noop, description="到期报告作废")
    registry.register("reminder.send", _noop, max_attempts=2, lease=timedelta(seconds=30), every=timedelta(hours=1))
    kind = registry.get("report.expire")
    assert kind is not None
    assert (kind.max_attempts, kind.lease, kind.every, kind.dedupe_key) == (7, timedelta(minutes=3), None, None)
    periodic = registry.get("reminder.send")
    assert periodic is not None
    assert (periodic.max_attempts, periodic.lease) == (2, timedelta(seconds=30))
    assert periodic.dedupe_key == "periodic:reminder.send"
    assert [k.kind for k in registry.kinds()] == ["reminder.send", "report.expire"]
    assert [k.kind for k in registry.periodic()] == ["reminder.send"]
    assert "report.expire" in registry
    assert "nothing" not in registry
    assert registry.get("nothing") is None
    assert len(registry) == 2


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        ("Bad Kind", {}, "invalid job kind"),
        ("", {}, "invalid job kind"),
        ("x" * 81, {}, "invalid job kind"),
        ("ok.kind", {"every": timedelta(0)}, "every must be positive"),
        ("ok.kind", {"max_attempts": 0}, "max_attempts"),
        ("ok.kind", {"lease": timedelta(seconds=-1)}, "lease"),
    ],
)
def test_bad_registrations_are_refused(kind: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JobRegistry().register(kind, _noop, **kwargs)


def test_a_kind_is_registered_once() -> None:
    registry = JobRegistry()
    registry.register("a.b", _noop)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a.b", _noop)


def test_registry_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="default_max_attempts"):
        JobRegistry(default_max_attempts=0)
    with pytest.raises(ValueError, match="lease"):
        JobRegistry(lease=timedelta(0))


def test_builtin_kinds() -> None:
    registry = JobRegistry()
    register_builtin_jobs(registry, {}, every=timedelta(seconds=5))
    deliver = registry.get("outbox.deliver")
    purge = registry.get("job.purge")
    assert deliver is not None
    assert purge is not None
    assert (deliver.every, purge.every) == (timedelta(seconds=5), timedelta(hours=1))
    assert deliver.description
    assert purge.description


def test_services_are_the_registrys_own_copy() -> None:
    given = {"cipher": object()}
    registry = JobRegistry(services=given)
    registry.services["extra"] = 1
    assert "extra" not in given
