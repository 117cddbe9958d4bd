"""Base errors: every error a user can see has a stable code and an HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """An error with a stable machine code, a Chinese title for users and an HTTP status."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "请求无法处理"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    """The thing asked for does not exist (or the caller may not know it exists)."""

    code = "not_found"
    status = 404
    title = "未找到"


class Conflict(DomainError):
    """The change conflicts with the current state."""

    code = "conflict"
    status = 409
    title = "状态冲突"


class InvalidInput(DomainError):
    """The input breaks a rule."""

    code = "invalid_input"
    status = 422
    title = "输入不符合规则"


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status = 401
    title = "需要登录或有效的访问令牌"


class Forbidden(DomainError):
    """The caller is known but no rule allows the action."""

    code = "forbidden"
    status = 403
    title = "无权执行此操作"


class Throttled(DomainError):
    """Too many attempts; try again later."""

    code = "throttled"
    status = 429
    title = "尝试次数过多，请稍后再试"
