"""Builds one self-contained HTML page: escaped text, tables, and PNGs embedded as data: URIs."""

import base64
import html
from collections.abc import Iterable, Sequence

# Plain greys: the colour on the page comes from the figures.
_STYLE = """
body { font-family: sans-serif; max-width: 1300px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: .25em .7em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f4f4f4; padding: .7em; overflow-x: auto; font-size: .85em; }
img { max-width: 100%; display: block; margin: .7em 0; }
.note { background: #f4f4f4; border-left: 4px solid #999; padding: .4em .8em; }
.caution { background: #fff0e0; border-left: 6px solid #d9480f; padding: .5em .8em; font-weight: bold; }
details > summary { cursor: pointer; margin: .5em 0; }
"""


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def note(text: str) -> str:
    """Something left out of the report, and why."""
    return f'<p class="note">{html.escape(text)}</p>'


def caution(text: str) -> str:
    """What a reader must not miss (a pushed model that is hardly better than chance)."""
    return f'<p class="caution">{html.escape(text)}</p>'


def folded(title: str, block: str) -> str:
    """A long block behind its title, opened on a click."""
    return f"<details><summary>{html.escape(title)}</summary>{block}</details>"


def preformatted(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def table(rows: Sequence[Sequence[str]]) -> str:
    """The first row is the header."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bullet_list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def image(png_path: str, alt: str, width_px: int = 0) -> str:
    """Embedded, so the page can be moved or mailed without its folder. width_px scales up small images."""
    with open(png_path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    width = f' width="{width_px}"' if width_px else ""
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{width}>'


def section(title: str, blocks: list[str]) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n" + "\n".join(blocks) + "\n</section>"


def page(title: str, sections: list[str]) -> str:
    escaped = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # An empty icon: browsers would otherwise ask for a favicon.ico that is not there.
        f'<link rel="icon" href="data:,"><title>{escaped}</title><style>{_STYLE}</style></head>\n'
        f"<body><h1>{escaped}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
