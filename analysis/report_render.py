"""Markdown and HTML of the report's sections (:mod:`analysis.report_sections`): paragraphs with
``**bold**``, ``*italic*``, ```code``` and ``[links](href)``, tables, and figures (HTML: PNG
embedded as base64, linked to its PDF; consecutive figures side by side)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from dimuon_ad.io import atomic_write_text

__all__ = ["CAPTIONS", "block_html", "block_md", "md_inline", "write_pages"]


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
    "higgs_peak": "Diphoton mass: data, the sideband polynomial fit with its ±1σ band and the "
                  "weighted MC of each Higgs production mode stacked on it (SR shaded); lower "
                  "panel: data minus background with the MC signal and the fitted μ × signal.",
    "confusion": "Weighted confusion matrices on the held-out MC (signed weights), each row "
                 "normalised to the true mode's expected events: the production-mode "
                 "classifier and the seed-style random forest.",
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


def write_pages(out: Path, title: str, intro_text: str, concl: str, notes: list[str],
                sections: list[dict]) -> tuple[Path, Path]:
    """Write ``report.md`` and the self-contained ``report.html`` into ``out`` (atomically):
    title, intro paragraph, conclusion, notes, a table of contents and the ``sections``
    (``{"id", "title", "blocks"}``; figures are read from ``out/plots``).

    Returns
    -------
    (md_path, html_path)
    """
    plot_dir = out / "plots"
    toc = [("conclusion", "Conclusion")] + ([("notes", "Notes")] if notes else []) + [
        (sec["id"], sec["title"]) for sec in sections]

    md = [f"# {title}", "", intro_text, "", "## Conclusion", "", concl, ""]
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    md += ["**Contents:** " + " · ".join(f"[{t}](#{i})" for i, t in toc), ""]
    for sec in sections:
        md += [f'<a id="{sec["id"]}"></a>', "", f"## {sec['title']}", ""]
        for block in sec["blocks"]:
            md += [*block_md(block), ""]
    md_path = atomic_write_text(out / "report.md", "\n".join(md))

    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{md_inline(intro_text)}</p>",
            '<h2 id="conclusion">Conclusion</h2>', f'<p class="concl">{md_inline(concl)}</p>']
    if notes:
        body.append('<h2 id="notes">Notes</h2><ul>'
                    + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    body.append('<nav><b>Contents</b><ol>' + "".join(
        f'<li><a href="#{i}">{html.escape(t)}</a></li>' for i, t in toc) + "</ol></nav>")
    for sec in sections:
        body.append(f'<h2 id="{sec["id"]}">{html.escape(sec["title"])} '
                    f'<a class="anchor" href="#{sec["id"]}">¶</a></h2>')
        blocks = sec["blocks"]
        i = 0
        while i < len(blocks):  # consecutive figures side by side
            if blocks[i][0] == "fig":
                j = i
                while j < len(blocks) and blocks[j][0] == "fig":
                    j += 1
                body.append('<div class="figs">' + "".join(
                    block_html(b, plot_dir) for b in blocks[i:j]) + "</div>")
                i = j
            else:
                body.append(block_html(blocks[i], plot_dir))
                i += 1
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 10px;text-align:right}"
        "th{background:#eee}td:first-child{text-align:left}.kv td{text-align:left}"
        ".concl{background:#f3f7fb;border-left:4px solid #2a6099;padding:0.6em 1em}"
        "nav{background:#fafafa;border:1px solid #ddd;padding:0.3em 1em;display:inline-block}"
        "a.anchor{color:#bbb;text-decoration:none;font-size:70%}"
        ".figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{flex:1 1 480px;margin:0.5em 0}"
        "img{max-width:100%}figcaption{color:#555;font-size:90%}"
        "</style></head><body>" + "\n".join(body) + "</body></html>"
    )
    html_path = atomic_write_text(out / "report.html", page)
    return md_path, html_path
