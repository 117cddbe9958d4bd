"""谁查询了我的信息 — the enterprise's access trail page and proof downloads — and the access-trail JSON API.

The JSON routes (`/api/v1/audit/…`) live here, not in `audit/api.py`, because the layers contract puts
`audit` below `principal`, and every route needs `principal.require`/`PUBLIC`. They move to `audit/api.py`
once the contract allows that one import (or to a domain above `principal`).
"""

from __future__ import annotations

import base64
import json
import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from xinyidai import audit
from xinyidai.audit.jobs import trail_keys
from xinyidai.audit.schemas import CheckpointRead, ConsistencyProofRead, InclusionProofRead, VerificationKeyRead
from xinyidai.http.container import Container, get_container
from xinyidai.kernel.errors import NotFound
from xinyidai.principal import PUBLIC, Permission, Principal, require
from xinyidai.web.layout import SECURITY_HEADERS, allowed, render

PAGE_SIZE = 50

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/audit", tags=["audit"])
ContainerDep = Annotated[Container, Depends(get_container)]
#: Auditors see every subject's trail and proofs; an enterprise those about itself; everyone else nothing.
TrailReader = Annotated[Principal, Depends(require(Permission.TRAIL_READ_OWN, Permission.AUDIT_READ))]

_STATUS = {
    "verified": ("ok", "✓ 已验证"),
    "failed": ("bad", "✗ 校验失败"),
    "pending": ("muted", "待纳入检查点"),
}


def _scope(who: Principal) -> dict[str, Any]:
    return {
        "can_read_all": allowed(who, Permission.AUDIT_READ),
        "can_read_own": allowed(who, Permission.TRAIL_READ_OWN),
        "own_uscc": who.enterprise_uscc,
    }


# --- JSON API --------------------------------------------------------------------------------------


@api.get("/key", response_model=VerificationKeyRead, dependencies=[Depends(PUBLIC)], summary="审计检查点验证公钥")
def verification_key(container: ContainerDep) -> VerificationKeyRead:
    """The Ed25519 key that signs checkpoints (and retired keys), to verify them offline."""
    keys = trail_keys(container)
    v = keys.signer.verifier
    return VerificationKeyRead(
        algorithm="Ed25519",
        origin=v.name,
        key_name=v.name,
        key_id=v.key_id.hex(),
        public_key=base64.b64encode(v.public_key).decode(),
        public_key_pem=v.pem(),
        verifier_key=v.encode(),
        retired=[k.encode() for k in keys.retired],
    )


@api.get("/checkpoints/latest", response_model=CheckpointRead, dependencies=[Depends(PUBLIC)], summary="最新签名检查点")
def latest_checkpoint(container: ContainerDep) -> CheckpointRead:
    """The newest signed tree head; keep it to detect later deletion or rewriting of the log."""
    cp = audit.latest_checkpoint(container.db)
    if cp is None:
        raise NotFound("尚无签名检查点")
    return CheckpointRead.model_validate(cp.to_json())


@api.get("/checkpoints/{size}", response_model=CheckpointRead, dependencies=[Depends(PUBLIC)], summary="指定树大小的签名检查点")
def checkpoint_at(size: Annotated[int, Path(ge=1)], container: ContainerDep) -> CheckpointRead:
    """The checkpoint signed at exactly this tree size."""
    return CheckpointRead.model_validate(audit.checkpoint_at(container.db, tree_size=size).to_json())


@api.get("/proofs/inclusion", response_model=InclusionProofRead, summary="审计事件的包含证明")
def inclusion_proof(
    container: ContainerDep,
    who: TrailReader,
    event_id: Annotated[str, Query(max_length=64)],
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> InclusionProofRead:
    """The event's audit path to the latest (or the given) signed checkpoint; an enterprise only for its own events."""
    proof = audit.prove_event(
        container.db, actor=who.ref, keys=trail_keys(container), event_id=event_id, tree_size=tree_size, **_scope(who)
    )
    return InclusionProofRead.model_validate(proof.to_json())


@api.get("/proofs/consistency", response_model=ConsistencyProofRead, summary="两个树大小之间的一致性证明")
def consistency_proof(
    container: ContainerDep,
    _who: TrailReader,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofRead:
    """Proof that the log at `first` events is a prefix of the log at `second` (nothing was removed or rewritten)."""
    return ConsistencyProofRead.model_validate(audit.prove_consistency(container.db, first=first, second=second).to_json())


router.include_router(api)


# --- pages -----------------------------------------------------------------------------------------


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) <= 1_000_000 else 1


@router.get("/trail")
def trail_page(
    request: Request,
    container: ContainerDep,
    who: TrailReader,
    uscc: Annotated[str, Query(max_length=18)] = "",
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    """谁查询了我的信息: every access to the subject's data, each with its inclusion proof checked here."""
    scope = _scope(who)
    subject = uscc.strip().upper() or (who.enterprise_uscc or "")
    context: dict[str, Any] = {"page_title": "谁查询了我的信息", "uscc": subject, "is_auditor": scope["can_read_all"]}
    if not subject:
        return render(request, container, who, "trail/trail.html", {**context, "trail": None})
    number = _page_number(page)
    trail = audit.access_trail(
        container.db,
        actor=who.ref,
        keys=trail_keys(container),
        subject=subject,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
        **scope,
    )
    pages = max(1, math.ceil(trail.total / PAGE_SIZE))
    base = {"uscc": subject} if scope["can_read_all"] else {}

    def link(n: int) -> str:
        return "/trail?" + urlencode({**base, "page": n})

    return render(
        request,
        container,
        who,
        "trail/trail.html",
        {
            **context,
            "trail": trail,
            "statuses": _STATUS,
            "page": number,
            "pages": pages,
            "prev_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number < pages else None,
        },
    )


@router.get("/trail/events/{event_id}/proof.json")
def proof_download(event_id: Annotated[str, Path(max_length=64)], container: ContainerDep, who: TrailReader) -> Response:
    """The event's inclusion proof with the signed checkpoint and the verification key, as a file to keep."""
    keys = trail_keys(container)
    proof = audit.prove_event(container.db, actor=who.ref, keys=keys, event_id=event_id, **_scope(who))
    body = {**proof.to_json(), "verifier_key": keys.signer.verifier.encode()}
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="xinyidai-proof-{proof.seq}.json"'}
    return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", media_type="application/json", headers=headers)
