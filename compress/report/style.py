"""What every HTML page of compress-bench shares: the style sheet, the verdict colours, and
embedding matplotlib figures (Agg backend, PNG as base64)."""

from __future__ import annotations

import base64
import html
import io

from compress.verdict.status import Status, Verdict

# verdict -> (row background, strong colour for text, lines and markers). One palette for the
# comparison page, the history page and its plots, so red means regression everywhere.
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    "regression": ("#f8d7da", "#b02a37"),
    "missing": ("#ffe5d0", "#c4540a"),
    "inconclusive": ("#fff3cd", "#8a6d00"),
    "improved": ("#d1e7dd", "#146c43"),
    "not-comparable": ("#e2e3e5", "#41464b"),
    "new": ("#cfe2ff", "#084298"),
    "ok": ("#ffffff", "#212529"),
    "info": ("#ffffff", "#6c757d"),
}
# the words a verdict is shown with
VERDICT_WORDS: dict[str, str] = {
    "regression": "regression",
    "missing": "missing",
    "inconclusive": "inconclusive",
    "improved": "improved",
    "not-comparable": "not comparable",
    "new": "new",
    "ok": "no change that matters",
    "info": "shown, not gated",
}
_KINDS = {
    Status.REGRESSION: "regression",
    Status.FAILED: "regression",
    Status.MISSING: "missing",
    Status.INCONCLUSIVE: "inconclusive",
    Status.IMPROVED: "improved",
    Status.NOT_COMPARABLE: "not-comparable",
    Status.NEW: "new",
    Status.OK: "ok",
    Status.INFO: "info",
}


def verdict(status: Status | Verdict | str, regression: bool = False) -> str:
    """The page's verdict class of a compare status (a key of VERDICT_COLOURS): a failed case
    is a regression; a missing one stays "missing" even where it fails the gate."""
    found = _KINDS.get(status.status if isinstance(status, Verdict) else Status(status), "info")
    return "regression" if regression and found != "missing" else found


def _verdict_css() -> str:
    rules = []
    for name, (background, strong) in VERDICT_COLOURS.items():
        rules.append(f"tr.{name}{{background:{background}}}")
        rules.append(f".{name} .verdict,.count.{name}{{color:{strong};font-weight:bold}}")
    return "".join(rules)


STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1400px;color:#212529}"
    ".wide{overflow-x:auto;max-width:100%;margin-bottom:1.5em}"
    "table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}"
    "td.text,th.text{text-align:left}"
    "details{margin:0.3em 0 1em}summary{cursor:pointer;color:#0b5394}"
    ".summary{font-size:1.15em}.count{margin-right:1em}"
    "figure{margin:0 0 2em}figcaption{max-width:900px}" + _verdict_css()
)


def page(title: str, body: list[str]) -> str:
    """A whole self-contained page."""
    head = f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style>"
    return "\n".join(
        [f"{head}<title>{html.escape(title)}</title></head><body>", *body, "</body></html>"]
    )


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig) -> str:
    """The figure as a base64 PNG (closed afterwards: pages draw dozens)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def img_tag(png: str | None, alt: str) -> str:
    """An <img> embedding ``png`` (base64), or nothing for None."""
    if png is None:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'
