"""RFC 9457 problem details: every API error is application/problem+json with a stable code."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from xinyidai.kernel.context import current_request_id
from xinyidai.kernel.errors import DomainError

log = logging.getLogger("xinyidai.http")

PROBLEM_TYPE_PREFIX = "urn:xinyidai:problem:"

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式错误"),
    401: ("unauthenticated", "需要登录或有效的访问令牌"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "状态冲突"),
    413: ("payload_too_large", "上传内容超过大小限制"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("invalid_input", "输入不符合规则"),
    429: ("throttled", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误"),
    503: ("unavailable", "服务暂不可用"),
}


def problem_response(
    *, status: int, code: str, title: str, detail: str | None = None, instance: str | None = None, **extra: Any
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    rid = current_request_id()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    retry_after = extra.get("retry_after")
    if status in (429, 503) and isinstance(retry_after, int) and retry_after > 0:
        headers = {"Retry-After": str(retry_after)}  # RFC 9110 §10.2.3: seconds
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every exception the app can raise onto a problem+json body."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, instance=request.url.path, **exc.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, (f"http_{exc.status_code}", "请求无法处理"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in {title} else None
        return problem_response(status=exc.status_code, code=code, title=title, detail=detail, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem_response(
            status=422,
            code="invalid_input",
            title="输入不符合规则",
            detail=f"{len(errors)} 处输入有误",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(status=500, code="internal_error", title="服务器内部错误", instance=request.url.path)
