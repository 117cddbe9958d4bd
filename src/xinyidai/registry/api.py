"""Registry routes: USCC validation (public) and subject lookup (by permission)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from xinyidai.http.container import Container, get_container
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.principal import PUBLIC, Permission, Principal, require
from xinyidai.registry import service
from xinyidai.registry.schemas import SubjectPage, SubjectRead, SubjectSummaryRead, UsccRead

router = APIRouter(tags=["registry"])
ContainerDep = Annotated[Container, Depends(get_container)]


@router.get("/uscc/{code}", response_model=UsccRead, dependencies=[Depends(PUBLIC)], summary="校验统一社会信用代码")
def validate_uscc(code: str, lenient: bool = False) -> UsccRead:
    """Validate a USCC (GB 32100-2015 with the GB 11714 check) and decode it."""
    return UsccRead.model_validate(uscc_rules.validate(code, lenient=lenient).to_json())


@router.get("/subjects", response_model=SubjectPage, summary="查询市场主体")
def list_subjects(
    container: ContainerDep,
    _principal: Annotated[Principal, Depends(require(Permission.SUBJECT_READ))],
    q: Annotated[str | None, Query(max_length=100)] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SubjectPage:
    """Search subjects by name or code prefix, region and status."""
    items, total = service.search_subjects(container.db, q=q, region_code=region_code, status=status, limit=limit, offset=offset)
    return SubjectPage(
        items=[SubjectSummaryRead.model_validate(asdict(i)) for i in items], total=total, limit=limit, offset=offset
    )


@router.get("/subjects/{uscc}", response_model=SubjectRead, summary="查看市场主体登记信息")
def get_subject(
    uscc: str,
    container: ContainerDep,
    principal: Annotated[Principal, Depends(require(Permission.SUBJECT_READ, Permission.SUBJECT_READ_OWN))],
) -> SubjectRead:
    """One subject's registration record (legal representative's ID masked); every read is audited."""
    detail = service.get_subject(
        container.db,
        actor=principal.ref,
        uscc=uscc,
        can_read_all=Permission.SUBJECT_READ in principal.permissions,
        can_read_own=Permission.SUBJECT_READ_OWN in principal.permissions,
        own_uscc=principal.enterprise_uscc,
    )
    return SubjectRead.model_validate(asdict(detail))
