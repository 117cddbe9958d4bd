"""Catalog routes: the public catalog, by version (public information, no login needed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from xinyidai.catalog.service import catalog_document, item_document, version_for
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.clock import today
from xinyidai.principal import PUBLIC

router = APIRouter(tags=["catalog"], dependencies=[Depends(PUBLIC)])


@router.get("/catalog", summary="公共信用信息基础目录")
def get_catalog(
    container: Annotated[Container, Depends(get_container)], version: Annotated[str | None, Query(pattern=r"^\d{4}$")] = None
) -> dict[str, Any]:
    """A catalog version (default: the one in force today) with its categories and items."""
    return catalog_document(version, on=today(container.clock))


@router.get("/catalog/items/{code}", summary="目录信息项")
def get_item(
    code: str,
    container: Annotated[Container, Depends(get_container)],
    version: Annotated[str | None, Query(pattern=r"^\d{4}$")] = None,
) -> dict[str, Any]:
    """One catalog item with its record schema and rules."""
    return item_document(version_for(version, on=today(container.clock)).item(code))
