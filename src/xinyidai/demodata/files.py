"""The files a generation run writes: name, catalog item, title and exact column order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

FileKind = Literal["department", "ground_truth"]


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One delivered file: a catalog item's records as a UTF-8 CSV with a header row."""

    name: str
    #: The catalog item the records belong to; None for the ground truth, which is no catalog item.
    item_code: str | None
    title: str
    columns: tuple[str, ...]
    kind: FileKind = "department"


REGISTRATION: Final = FileSpec(
    "registration.csv", "registration", "登记注册基本信息",
    ("uscc", "name", "entity_type", "legal_rep_name", "legal_rep_id_type", "legal_rep_id_no",
     "registered_capital", "established_on", "region_code", "industry_code", "address",
     "business_scope", "status", "registration_authority"),
)  # fmt: skip
ADMIN_LICENSE: Final = FileSpec(
    "admin_license.csv", "admin_license", "行政许可",
    ("XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM", "XK_XDR_GSZC", "XK_XDR_ZZJG", "XK_XDR_SWDJ",
     "XK_XDR_SYDW", "XK_XDR_SHZZ", "XK_FRDB", "XK_FR_ZJLX", "XK_FR_ZJHM", "XK_XDR_ZJLX",
     "XK_XDR_ZJHM", "XK_XKWS", "XK_WSH", "XK_XKLB", "XK_XKZS", "XK_XKBH", "XK_NR", "XK_JDRQ",
     "XK_YXQZ", "XK_YXQZI", "XK_XKJG", "XK_XKJGDM", "XK_ZT", "XK_LYDW", "XK_LYDWDM", "BZ"),
)  # fmt: skip
ADMIN_PENALTY: Final = FileSpec(
    "admin_penalty.csv", "admin_penalty", "行政处罚",
    ("CF_XDR_MC", "CF_XDR_LB", "CF_XDR_SHXYM", "CF_XDR_GSZC", "CF_XDR_ZZJG", "CF_XDR_SWDJ",
     "CF_XDR_SYDW", "CF_XDR_SHZZ", "CF_FRDB", "CF_FR_ZJLX", "CF_FR_ZJHM", "CF_XDR_ZJLX",
     "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_NR_FK",
     "CF_NR_WFFF", "CF_NR_ZKDX", "CF_JDRQ", "CF_YXQ", "CF_GSJZQ", "CF_CFJG", "CF_CFJGDM",
     "CF_SJLY", "CF_SJLYDM", "BZ"),
)  # fmt: skip
TAX_PAYMENT: Final = FileSpec(
    "tax_payment.csv",
    "tax_payment",
    "纳税信息",
    ("uscc", "period", "tax_type", "amount_paid", "declared_on", "paid_on", "overdue_days"),
)
TAX_CREDIT_GRADE: Final = FileSpec(
    "tax_credit_grade.csv", "tax_credit_grade", "纳税信用等级", ("uscc", "year", "grade", "evaluated_on")
)
SOCIAL_INSURANCE: Final = FileSpec(
    "social_insurance.csv",
    "social_insurance",
    "社会保险费缴纳信息",
    ("uscc", "period", "insured_headcount", "contribution_amount", "arrears_amount"),
)
HOUSING_FUND: Final = FileSpec(
    "housing_fund.csv",
    "housing_fund",
    "住房公积金缴存信息",
    ("uscc", "period", "depositor_count", "deposit_amount", "arrears_months"),
)
UTILITY_PAYMENT: Final = FileSpec(
    "utility_payment.csv",
    "utility_payment",
    "水电气费缴纳信息",
    ("uscc", "utility", "period", "amount_due", "amount_paid", "paid_on_time", "days_late"),
)
COURT_JUDGMENT: Final = FileSpec(
    "court_judgment.csv",
    "court_judgment",
    "司法裁判信息",
    ("uscc", "case_no", "court_name", "case_type", "cause", "party_role", "amount", "judgment_date", "result"),
)
DISHONEST_DEBTOR: Final = FileSpec(
    "dishonest_debtor.csv",
    "dishonest_debtor",
    "失信被执行人",
    ("uscc", "name", "case_no", "court_name", "obligation", "performance_status", "listed_on", "removed_on"),
)
ABNORMAL_OPERATION: Final = FileSpec(
    "abnormal_operation.csv",
    "abnormal_operation",
    "经营异常名录",
    ("uscc", "name", "reason", "listed_on", "listing_authority", "removed_on", "removal_reason"),
)
CUSTOMS_CREDIT: Final = FileSpec(
    "customs_credit.csv", "customs_credit", "海关信用等级", ("uscc", "customs_code", "grade", "graded_on")
)
HONOUR: Final = FileSpec("honour.csv", "honour", "诚实守信相关荣誉", ("uscc", "title", "grantor", "level", "granted_on"))
OUTCOMES: Final = FileSpec(
    "outcomes.csv", None, "合成真值（潜在信用质量与贷款违约）",
    ("uscc", "latent_quality", "loan_default"), kind="ground_truth",
)  # fmt: skip

#: Every file in the order rows are produced and listed in the manifest.
FILES: Final[tuple[FileSpec, ...]] = (
    REGISTRATION,
    ADMIN_LICENSE,
    ADMIN_PENALTY,
    TAX_PAYMENT,
    TAX_CREDIT_GRADE,
    SOCIAL_INSURANCE,
    HOUSING_FUND,
    UTILITY_PAYMENT,
    COURT_JUDGMENT,
    DISHONEST_DEBTOR,
    ABNORMAL_OPERATION,
    CUSTOMS_CREDIT,
    HONOUR,
    OUTCOMES,
)
