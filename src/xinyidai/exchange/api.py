"""Interface-call routes: a subject's records of one catalog item, fetched from its department through the cache."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from xinyidai.exchange import service
from xinyidai.exchange.schemas import FetchResultRead
from xinyidai.http.container import Container, get_container
from xinyidai.principal import Permission, Principal, require

router = APIRouter(tags=["exchange"])
ContainerDep = Annotated[Container, Depends(get_container)]


@router.get("/exchange/{item}/{uscc}", response_model=FetchResultRead, summary="系统接口调用：查询数据源部门")
def query_source(
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.EXCHANGE_QUERY))],
    item: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,59}$", description="目录信息项代码，如 tax_payment")],
    uscc: Annotated[str, Path(min_length=18, max_length=18, description="统一社会信用代码")],
    source: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="数据源部门代码（默认：信息项的部门）")
    ] = None,
    purpose: Annotated[str | None, Query(max_length=200, description="查询用途（写入审计日志）")] = None,
) -> FetchResultRead:
    """Fresh data from the department, or the cached answer within the item's freshness.

    A failing department does not fail the request: the answer is 200 with `status` `stale`
    (the cached copy, with `age_seconds`) or `unavailable` (nothing cached), and `reason` says why.
    Bad input is problem+json: unknown item 404, invalid USCC 422, a source that does not own the item 422;
    a refused access decision 403.
    """
    result = service.fetch(
        container.db,
        service.connector_registry(container),
        actor=principal.ref,
        source=source,
        item=item,
        uscc=uscc,
        purpose=purpose,
        clock=container.clock,
        permissions=principal.permissions,
        decide=service.access_decider(container),
    )
    return FetchResultRead.model_validate(result.to_json())
