"""Markdown and HTML of the report's sections (:mod:`analysis.report_sections`): paragraphs with
``**bold**``, ``*italic*``, ```code``` and ``[links](href)``, tables, and figures (HTML: PNG
embedded as base64, linked to its PDF; consecutive figures side by side)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

__all__ = ["CAPTIONS", "block_html", "block_md", "md_inline"]


CAPTIONS = {
    "mass_os": "Opposite-sign dimuon mass spectrum without cut and after CATHODE cuts at "
               "sideband false-positive rates, with the sideband polynomial fit, its ±1σ band "
               "and pulls (data − fit)/σ; SR shaded, resonance masses dotted.",
    "mass_ss": "Same-sign control sample, cut with the OS-trained models.",
    "z_vs_fpr_os": "Local significance vs sideband FPR of each method (OS); dashed: likelihood "
                   "reweighting, dotted: no cut; grey band: 68 % / 95 % of the largest Z of "
                   "background-only toys.",
    "z_vs_fpr_ss": "Same-sign control: local significance vs FPR with the OS-trained models.",
    "features_sr": "Features of SR data before and after the best CATHODE cut (Poisson errors), "
                   "with the flow background template.",
    "closure": "Sideband closure: sideband data vs flow samples at the same masses.",
    "roc_sic": "ROC and SIC on SR events with truth labels: CATHODE, idealized anomaly "
               "detector, supervised classifier and single features.",
}


def _table_md(header: list[str], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def block_md(block: tuple) -> list[str]:
    kind = block[0]
    if kind == "p":
        return [block[1]]
    if kind == "table":
        return [_table_md(block[1], block[2])]
    if kind == "links":
        return [f"- {x}" for x in block[1]]
    n = block[1]
    return [f"[![{n}](plots/{n}.png)](plots/{n}.pdf)", "", f"*{CAPTIONS.get(n, n)}*"]


def _md_links(text: str) -> str:
    """``[text](href)`` of already-escaped text as HTML links."""
    import re

    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', text)


def block_html(block: tuple, plot_dir: Path) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{md_inline(block[1])}</p>"
    if kind == "links":
        return "<ul>" + "".join(f"<li>{_md_links(md_inline(x))}</li>" for x in block[1]) + \
            "</ul>"
    if kind == "table":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
        rows = "".join("<tr>" + "".join(f"<td>{md_inline(str(c))}</td>" for c in r) + "</tr>"
                       for r in block[2])
        return f"<table><tr>{head}</tr>{rows}</table>" if any(block[1]) else \
            f"<table class=\"kv\">{rows}</table>"
    n = block[1]
    b64 = base64.b64encode((plot_dir / f"{n}.png").read_bytes()).decode("ascii")
    return (f'<figure id="fig-{n}"><a href="plots/{n}.pdf"><img alt="{n}" '
            f'src="data:image/png;base64,{b64}"></a>'
            f"<figcaption>{html.escape(CAPTIONS.get(n, n))} (<a href='plots/{n}.png'>PNG</a>, "
            f"<a href='plots/{n}.pdf'>PDF</a>)</figcaption></figure>")


def md_inline(text: str) -> str:
    import re

    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
