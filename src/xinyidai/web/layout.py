"""Page layout shared by every HTML route: templates, navigation, security headers, error pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from xinyidai import principal
from xinyidai.http.container import Container
from xinyidai.kernel.errors import DomainError, NotFound
from xinyidai.principal import CSRF_FIELD, Permission, Principal, decide
from xinyidai.registry import regions

PLATFORM_NAME = "信易贷融资信用服务平台"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


#: Headers every HTML response carries. The pages load nothing but what /static serves,
#: use no inline script or style, and must never be framed.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Pages show personal data (masked) and per-user figures: keep them out of shared caches and history.
    "Cache-Control": "no-store",
}

_CHINA_TIME = timezone(timedelta(hours=8))  # China keeps UTC+8 all year, no daylight saving.

_NODE_LEVELS = {"city": "市级节点", "province": "省级节点", "national": "国家级节点"}

#: Badge tone of each registration status (see registry.STATUSES).
_STATUS_TONES = {
    "存续": "ok",
    "在业": "ok",
    "迁出": "info",
    "停业": "warn",
    "清算": "warn",
    "吊销": "bad",
    "撤销": "bad",
    "注销": "muted",
}

#: Chinese names of job states (job.JobStatus); an unknown state shows its code.
_JOB_STATUS_LABELS = {"pending": "待执行", "running": "执行中", "done": "已完成", "dead": "失败已放弃"}
_JOB_STATUS_TONES = {"pending": "info", "running": "warn", "done": "ok", "dead": "bad"}

#: Chinese names of audit actions; an action not listed shows its code alone.
_ACTION_LABELS = {
    "product.product.update": "修改产品草稿",
    "product.need.close": "关闭融资需求",
    "product.match.read": "查看产品匹配",
    "evaluation.model.create": "创建评价模型版本",
    "evaluation.model.approve": "批准评价模型版本",
    "evaluation.model.approve.refused": "批准评价模型被拒绝",
    "evaluation.model.promote": "调整评价模型角色",
    "evaluation.model.retire": "停用评价模型版本",
    "evaluation.model.validate": "验证评价模型",
    "evaluation.evaluation.read": "查看信用评价",
    "evaluation.evaluation.read.denied": "查看信用评价被拒绝",
    "evaluation.distribution.read": "查看评价等级分布",
    "evaluation.facts.read": "产品匹配读取信用评价",
    "evaluation.push.export": "推送信用评价结果",
    "evaluation.push.skipped": "评价推送未发送（无回调地址）",
    "evaluation.push.list": "查看已推送评价",
    "evaluation.subscription.set": "设置评价结果推送订阅",
    "access.denied": "访问被拒绝",
    "audit.event.list": "查看审计日志",
    "principal.login": "登录",
    "principal.login.failed": "登录失败",
    "principal.login.throttled": "登录被限制",
    "principal.logout": "退出登录",
    "principal.user.create": "创建用户",
    "principal.institution.create": "登记金融机构",
    "principal.department.create": "登记数据源部门",
    "principal.client.create": "创建接口客户端",
    "principal.token.issue": "签发访问令牌",
    "principal.token.refused": "拒绝签发令牌",
    "registry.subject.load": "导入登记信息",
    "registry.subject.read": "查看主体登记信息",
    "registry.subject.read.denied": "查看主体被拒绝",
    "registry.subject.reveal_id": "查看证件号码明文",
    "audit.trail.list": "查看访问记录",
    "audit.trail.denied": "查看访问记录被拒绝",
    "audit.proof.inclusion": "获取包含证明",
    "audit.proof.denied": "获取包含证明被拒绝",
    "audit.checkpoint.sign": "签署审计检查点",
    "keys.pii.rotate": "轮换个人信息密钥",
    "exchange.query": "接口调用查询",
    "exchange.query.denied": "接口调用查询被拒绝",
    "exchange.endpoint.set": "配置部门接口",
    "consent.access.read": "授权查询信息",
    "consent.access.pull": "授权调取报告",
    "consent.access.verify": "授权数据核验",
    "consent.access.denied": "授权查询被拒绝",
    "consent.authorization.request": "申请授权",
    "consent.authorization.request.refused": "授权申请被拒绝（超出公平使用规则）",
    "consent.authorization.approve": "批准授权",
    "consent.authorization.approve.refused": "批准授权未通过确认",
    "consent.authorization.reject": "拒绝授权申请",
    "consent.authorization.pause": "暂停授权",
    "consent.authorization.resume": "恢复授权",
    "consent.authorization.revoke": "撤销授权",
    "consent.authorization.expire": "授权到期",
    "consent.authorization.read": "查看授权",
    "consent.authorization.read.denied": "查看授权被拒绝",
    "consent.authorization.list": "查看授权列表",
    "consent.endpoint.set": "配置机构回调地址",
    "consent.policy.update": "修改授权公平使用规则",
    "objection.file": "提出异议",
    "objection.remind": "异议处理提醒",
    "objection.escalate": "异议逾期升级",
    "objection.resolve": "异议处理完成",
    "objection.statement": "补充异议声明",
    "objection.list": "查看异议列表",
    "objection.read": "查看异议",
    "objection.attachment.read": "查看异议附件",
    "verification.ask": "数据核验提问",
    "ingest.batch.create": "报送归集批次",
    "ingest.batch.replay": "重复报送（未变更）",
    "ingest.batch.refused": "报送被拒绝（超过大小限制）",
    "verification.question.refused": "核验提问被拒绝（超过次数上限）",
    "ingest.record.correct": "更正信用记录",
    "ingest.record.dispute": "标注有异议",
    "ingest.record.dispute_clear": "撤销异议标注",
    "ingest.record.purge": "删除过期记录",
    "ingest.record.read_own": "查看本企业信用记录",
    "ingest.record.repair": "标注已修复",
    "ingest.record.reveal": "查看记录中个人信息明文",
    "ingest.record.statement": "附加企业声明",
    "ingest.rejects.download": "下载拒收明细",
    "ingest.rejects.read": "查看拒收明细",
    "ingest.retention": "执行保存期限清理",
    "ingest.source.confirm": "确认数据来源",
    "ingest.source.create": "登记数据来源",
    "ingest.source.link": "关联数据来源与部门",
    "ingest.source.register_pending": "待确认数据来源自动登记",
    "report.public.issue": "生成公共信用信息报告",
    "report.authorized.issue": "生成授权信用报告",
    "report.special.issue": "生成专项信用报告",
    "report.special.refused": "专项信用报告申请被拒绝",
    "report.report.download": "下载信用报告",
    "report.report.read.denied": "查看信用报告被拒绝",
    "principal.reauth": "确认密码",
    "principal.reauth.failed": "确认密码失败",
}

_VERSION_FIELD_LABELS = {"document_no": "文号", "issued_on": "发布日期", "effective_on": "施行日期", "categories": "信息类别"}

_SIZE_LABELS = {"micro": "微型", "small": "小型", "medium": "中型", "large": "大型"}

_DISCLOSURE_TONES = {"public": "ok", "authorized": "info", "consent": "warn"}


# --- templates -----------------------------------------------------------------------------------


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _wan(value: Decimal | None) -> str:
    return "—" if value is None else format(value.normalize(), ",f")


def _day(value: date | None) -> str:
    return "—" if value is None else value.isoformat()


def _local_time(value: str | datetime | None) -> str:
    """An ISO timestamp shown in China time, to the second."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def _issue_text(entry: str) -> str:
    """The message part of a ``"<code>: <说明>"`` validation entry."""
    return entry.split(": ", 1)[-1]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=_number, wan=_wan, day=_day, local_time=_local_time, issue_text=_issue_text)
    env.globals.update(
        platform_name=PLATFORM_NAME,
        status_tone=lambda status: _STATUS_TONES.get(status, "muted"),
        job_status_label=lambda status: _JOB_STATUS_LABELS.get(status, status),
        job_status_tone=lambda status: _JOB_STATUS_TONES.get(status, "muted"),
        size_label=lambda code: _SIZE_LABELS.get(code, code) if code else "—",
        disclosure_tone=lambda value: _DISCLOSURE_TONES.get(value, "muted"),
        action_label=lambda action: _ACTION_LABELS.get(action),
        version_field_label=lambda key: _VERSION_FIELD_LABELS.get(key, key),
        csrf_field=CSRF_FIELD,
    )
    return env


templates = Jinja2Templates(env=_environment())


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the navigation bar."""

    href: str
    label: str
    active: bool


#: Navigation: a link is shown only to principals holding its permission (None: everyone).
_NAV: tuple[tuple[str, str, Permission | None], ...] = (
    ("/", "工作台", Permission.HOME_READ),
    ("/subjects", "市场主体查询", Permission.SUBJECT_READ),
    ("/audit", "审计日志", Permission.AUDIT_READ),
    ("/records/mine", "我的信用记录", Permission.RECORD_READ_OWN),
    ("/trail", "谁查询了我的信息", Permission.TRAIL_READ_OWN),
    ("/authorizations", "授权管理", Permission.AUTHORIZATION_GRANT),
    ("/authorizations", "授权申请", Permission.AUTHORIZATION_REQUEST),
    ("/consent/policies", "授权公平使用规则", Permission.CONSENT_POLICY_MANAGE),
    ("/reports", "我的信用报告", Permission.REPORT_REQUEST_OWN),
    ("/reports/pull", "调取信用报告", Permission.REPORT_PULL),
    ("/objections", "我的异议", Permission.OBJECTION_CREATE),
    ("/objections/queue", "异议处理", Permission.OBJECTION_READ),
    ("/ingest/sources", "数据来源", Permission.SOURCE_READ),
    ("/ingest/batches", "归集批次", Permission.BATCH_READ),
    ("/quality", "数据质量", Permission.QUALITY_READ),
    ("/market", "产品超市", Permission.APPLICATION_CREATE),
    ("/needs", "融资需求", Permission.NEED_CREATE),
    ("/products", "产品管理", Permission.PRODUCT_MANAGE),
    ("/products/needs", "可服务的融资需求", Permission.NEED_READ),
    ("/lending/applications", "融资申请", Permission.APPLICATION_READ),
    ("/lending/loans", "我的贷款", Permission.LOAN_READ_OWN),
    ("/lending/loans", "贷款登记簿", Permission.LOAN_MANAGE),
    ("/lending/overview", "信易贷概览", Permission.LENDING_OVERVIEW),
    ("/evaluation", "我的信用评价", Permission.EVALUATION_READ_OWN),
    ("/evaluation/models", "评价模型", Permission.EVALUATION_MODEL_MANAGE),
    ("/evaluation/distribution", "评价等级分布", Permission.EVALUATION_READ),
    ("/evaluation/pushed", "评价结果推送", Permission.EVALUATION_PUSH_READ),
    ("/catalog", "信用信息目录", None),
    ("/uscc", "信用代码校验", None),
    ("/reports/verify", "报告验证", None),
)


def allowed(who: Principal | None, permission: Permission) -> bool:
    return decide(who, permission).allowed


def _is_active(path: str, href: str) -> bool:
    return path == href or (href != "/" and path.startswith(href + "/"))


def _navigation(who: Principal | None, path: str) -> list[NavLink]:
    links: list[NavLink] = []
    for href, label, permission in _NAV:
        if permission is not None and not allowed(who, permission):
            continue
        links.append(NavLink(href, label, _is_active(path, href)))
        if href == "/" and who is not None and who.enterprise_uscc and allowed(who, Permission.SUBJECT_READ_OWN):
            own = f"/subjects/{who.enterprise_uscc}"
            links.append(NavLink(own, "本企业登记信息", path == own))
    return links


def _node_label(container: Container) -> str:
    settings = container.settings
    name = regions.region_name(settings.node_region_code) or settings.node_region_code
    return f"{name} · {_NODE_LEVELS.get(settings.node_level.value, settings.node_level.value)}"


def _me(container: Container, who: Principal | None) -> dict[str, str | None] | None:
    """The logged-in user's profile for the header; API clients get their label."""
    if who is None:
        return None
    fallback: dict[str, str | None] = {
        "display_name": who.label,
        "role_label": who.role.label if who.role else "接口客户端",
        "institution": None,
        "department": None,
    }
    if who.role is None:
        return fallback
    try:
        return principal.get_user_summary(container.db, user_id=who.id)
    except NotFound:
        return fallback


def secured(response: Response) -> Response:
    """Add the security headers every HTML response carries."""
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request,
    container: Container,
    who: Principal | None,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    me: dict[str, str | None] | None = None,
) -> Response:
    page: dict[str, Any] = {
        "who": who,
        "me": me if me is not None else _me(container, who),
        "nav": _navigation(who, request.url.path),
        "node_label": _node_label(container),
        "csrf_token": who.csrf_token if who is not None and who.csrf_token else "",
        "page_title": "",
    }
    page.update(context or {})
    return secured(templates.TemplateResponse(request, name, page, status_code=status_code))


def error_page(
    request: Request, container: Container, who: Principal | None, *, status_code: int, title: str, detail: str
) -> Response:
    return render(
        request,
        container,
        who,
        "error.html",
        {"page_title": title, "title": title, "detail": detail, "status": status_code},
        status_code=status_code,
    )


def render_error(request: Request, error: DomainError) -> Response:
    """A Chinese error page for a refusal raised before a page handler ran (e.g. by a permission check)."""
    container: Container = request.app.state.container
    who: Principal | None = getattr(request.state, "principal", None)
    return error_page(request, container, who, status_code=error.status, title=error.title, detail=error.detail)


def today_in_china(container: Container) -> date:
    """Today's date in China."""
    return container.clock.now().astimezone(_CHINA_TIME).date()


def redirect(url: str) -> Response:
    return secured(RedirectResponse(url=url, status_code=303))
