"""The validation report as HTML: a self-contained fragment with inline SVG charts, and a full page for the CLI.

No scripts, no external resources: charts are SVG drawn here (ROC curve, score distribution by band with
observed bad rate and mean PD, IV per feature). Every text is escaped.
"""

from __future__ import annotations

from html import escape

from xinyidai.scorecard.validate import ValidationReport

_W = 420
_H = 260
_PAD = 40


def _svg_open(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{escape(title)}" style="font:11px sans-serif;background:#fff">'
    )


def _axes() -> str:
    x0, y0, x1, y1 = _PAD, _H - _PAD, _W - 10, 10
    return (
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>'
    )


def _x(frac: float) -> float:
    return _PAD + frac * (_W - 10 - _PAD)


def _y(frac: float) -> float:
    return (_H - _PAD) - frac * (_H - _PAD - 10)


def roc_svg(report: ValidationReport) -> str:
    """ROC curve with the diagonal."""
    pts = " ".join(f"{_x(f):.1f},{_y(t):.1f}" for f, t in report.roc)
    return (
        _svg_open("ROC 曲线")
        + _axes()
        + f'<line x1="{_x(0):.1f}" y1="{_y(0):.1f}" x2="{_x(1):.1f}" y2="{_y(1):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>'
        + f'<polyline points="{pts}" fill="none" stroke="#c0392b" stroke-width="2"/>'
        + f'<text x="{_W / 2:.0f}" y="{_H - 8}" text-anchor="middle">累计好样本占比</text>'
        + f'<text x="12" y="{_H / 2:.0f}" transform="rotate(-90 12 {_H / 2:.0f})" text-anchor="middle">累计坏样本占比</text>'
        + f'<text x="{_x(0.55):.1f}" y="{_y(0.2):.1f}">AUC = {report.auc:.3f}</text>'
        + "</svg>"
    )


def bands_svg(report: ValidationReport) -> str:
    """Rows per score band (bars, with the reference share as a tick) and observed bad rate vs mean PD (lines)."""
    n = len(report.bands)
    if n == 0:
        return ""
    # Headroom above the tallest bar and the highest rate keeps the legend clear of the data.
    top_share = 1.2 * max(max(b.share for b in report.bands), max(b.reference_share for b in report.bands), 1e-9)
    top_rate = 1.2 * max(max(b.bad_rate for b in report.bands), max(b.mean_pd for b in report.bands), 1e-9)
    width = (_W - 10 - _PAD) / n
    parts = [_svg_open("分数段分布与校准"), _axes()]
    obs: list[str] = []
    pred: list[str] = []
    for i, b in enumerate(report.bands):
        x = _PAD + i * width
        h = b.share / top_share * (_H - _PAD - 10)
        parts.append(f'<rect x="{x + 2:.1f}" y="{_H - _PAD - h:.1f}" width="{width - 4:.1f}" height="{h:.1f}" fill="#aed6f1"/>')
        ry = _H - _PAD - b.reference_share / top_share * (_H - _PAD - 10)
        parts.append(f'<line x1="{x + 2:.1f}" y1="{ry:.1f}" x2="{x + width - 2:.1f}" y2="{ry:.1f}" stroke="#2471a3"/>')
        cx = x + width / 2
        obs.append(f"{cx:.1f},{_y(b.bad_rate / top_rate):.1f}")
        pred.append(f"{cx:.1f},{_y(b.mean_pd / top_rate):.1f}")
        parts.append(f'<text x="{cx:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">{i + 1}</text>')
    parts.append(f'<polyline points="{" ".join(obs)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append(f'<polyline points="{" ".join(pred)}" fill="none" stroke="#27ae60" stroke-width="2" stroke-dasharray="5 3"/>')
    parts.append(f'<text x="{_W / 2:.0f}" y="{_H - 8}" text-anchor="middle">分数段（低分 → 高分）</text>')
    parts.append(
        f'<text x="{_PAD + 6}" y="20" fill="#c0392b">— 实际坏账率</text>'
        f'<text x="{_PAD + 96}" y="20" fill="#27ae60">-- 平均预测 PD</text>'
        f'<text x="{_PAD + 196}" y="20" fill="#2471a3">▮ 样本占比（线：参照）</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def iv_svg(report: ValidationReport) -> str:
    """Horizontal bars of IV per feature."""
    feats = sorted(report.features, key=lambda f: -f.iv)
    if not feats:
        return ""
    row = 18
    height = 20 + row * len(feats)
    top = max(max(f.iv for f in feats), 1e-9)
    label_w = 170
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" width="{_W}" height="{height}" role="img" '
        f'aria-label="信息值" style="font:11px sans-serif;background:#fff">'
    ]
    for i, f in enumerate(feats):
        y = 10 + i * row
        w = f.iv / top * (_W - label_w - 60)
        parts.append(f'<text x="{label_w - 4}" y="{y + 12}" text-anchor="end">{escape(f.label[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="#f5b041"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{f.iv:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _band_label(lower: float | None, upper: float | None) -> str:
    if lower is None and upper is None:
        return "全部"
    if lower is None:
        return f"< {upper:.1f}"
    if upper is None:
        return f">= {lower:.1f}"
    return f"[{lower:.1f}, {upper:.1f})"


def render_validation_html(report: ValidationReport, *, title: str = "评分卡验证报告") -> str:
    """A self-contained HTML fragment (a ``<section>``) with headline figures, tables and inline SVG charts."""
    hl = report.hosmer_lemeshow
    ref = {"training": "训练样本", "reference": "参照样本", "self": "本样本"}.get(report.reference, report.reference)
    head = (
        '<table class="scorecard-figures"><tbody>'
        f"<tr><th>样本数</th><td>{report.rows}</td><th>坏样本数</th><td>{report.bads}</td>"
        f"<th>坏账率</th><td>{report.bad_rate:.2%}</td></tr>"
        f"<tr><th>AUC</th><td>{report.auc:.4f}</td><th>KS</th><td>{report.ks:.4f}</td><th>Gini</th><td>{report.gini:.4f}</td></tr>"
        f"<tr><th>PSI（相对{escape(ref)}）</th><td>{report.psi:.4f}</td><th>Hosmer–Lemeshow 统计量</th>"
        f"<td>{hl.statistic:.3f}（自由度 {hl.dof}）</td><th>p 值</th><td>{hl.p_value:.4f}</td></tr>"
        "</tbody></table>"
    )
    band_rows = "".join(
        f"<tr><td>{i + 1}</td><td>{escape(_band_label(b.lower, b.upper))}</td><td>{b.rows}</td><td>{b.bads}</td>"
        f"<td>{b.bad_rate:.2%}</td><td>{b.mean_pd:.2%}</td><td>{b.share:.2%}</td><td>{b.reference_share:.2%}</td></tr>"
        for i, b in enumerate(report.bands)
    )
    bands = (
        '<table class="scorecard-bands"><thead><tr><th>段</th><th>分数区间</th><th>样本数</th><th>坏样本数</th>'
        "<th>实际坏账率</th><th>平均预测 PD</th><th>占比</th><th>参照占比</th></tr></thead>"
        f"<tbody>{band_rows}</tbody></table>"
    )
    feat_rows = "".join(
        f"<tr><td>{escape(f.label)}</td><td><code>{escape(f.feature)}</code></td><td>{f.iv:.4f}</td><td>{f.csi:.4f}</td></tr>"
        for f in sorted(report.features, key=lambda f: -f.iv)
    )
    feats = (
        '<table class="scorecard-features"><thead><tr><th>特征</th><th>字段</th>'
        "<th>信息值 IV</th><th>特征稳定性 CSI</th></tr></thead>"
        f"<tbody>{feat_rows}</tbody></table>"
    )
    return (
        f'<section class="scorecard-report"><h2>{escape(title)}</h2>'
        f"<h3>核心指标</h3>{head}"
        f"<h3>区分能力：ROC 曲线</h3><figure>{roc_svg(report)}</figure>"
        f"<h3>分数段分布与校准</h3><figure>{bands_svg(report)}</figure>{bands}"
        f"<h3>特征信息值与稳定性</h3><figure>{iv_svg(report)}</figure>{feats}"
        "</section>"
    )


def render_validation_page(
    train: ValidationReport, test: ValidationReport | None = None, *, title: str = "评分卡验证报告"
) -> str:
    """A complete HTML document (for files written by the CLI) with the training and, if any, test reports."""
    body = render_validation_html(train, title="训练样本")
    if test is not None:
        body = render_validation_html(test, title="测试样本") + body
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f6f7}figure{margin:.5em 0}"
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
