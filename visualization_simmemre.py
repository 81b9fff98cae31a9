"""HTML rendering of predicted (or gold) schema documents: mentions highlighted (`<mark>`, underlined) with one colour
per entity cluster and a type label, relations listed per document as "head — type → tail (score)". A mention's scores
are text in its label, read by screen readers and hidden on screen (where hovering shows them), so that keyboard, touch
and screen-reader users get them; the fragment draws its own white surface (a dark notebook theme made its text
unreadable), colours are hex (a notebook's sanitizer drops `hsl()`), long words wrap (a phone's 320 px).

Overlapping and nested mentions are handled by cutting the text at every mention boundary: each piece is highlighted
with the colour of the innermost mention covering it, and its tooltip lists all of them. Documents are checked against
the schema first (`validate_document`; an `id` may be missing), so a bad offset or entity index is named, not drawn
somewhere else.
"""

import colorsys
import html
import math
import numbers
import os
import re
from typing import Optional

from .data_simmemre import DocumentError, validate_document, with_str_id

# Every rule inside `.simmemre`: in a notebook the fragment sits in the notebook's own page, whose headings, lists and
# body a global rule would restyle.
_STYLE = """
.simmemre { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; line-height: 1.9;
            background: #fff; color-scheme: light; padding: 0.5em 1em; border-radius: 6px; }
.simmemre h1 { font-size: 1.4em; }
.simmemre h2 { font-size: 1.1em; margin-top: 2.2em; border-bottom: 1px solid #ccc; }
.simmemre .text { white-space: pre-wrap; background: #fafafa; border: 1px solid #e4e4e4; padding: 0.8em 1em;
                  border-radius: 6px; }
.simmemre .text, .simmemre h2, .simmemre li { overflow-wrap: anywhere; }
.simmemre .m { color: #222; border-radius: 3px; padding: 0.1em 0.05em; border-bottom: 2px solid rgba(0,0,0,0.55); }
.simmemre .m.nested { outline: 1px dashed #555; }
.simmemre .tag { font-size: 0.68em; font-weight: 600; border-radius: 3px; padding: 0 0.3em; margin: 0 0.15em 0 0.1em;
                 vertical-align: 0.25em; color: #222; border: 1px solid rgba(0,0,0,0.25); white-space: nowrap;
                 user-select: none; }
.simmemre .vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
                white-space: nowrap; }
.simmemre .swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; vertical-align: -0.1em;
                    border: 1px solid rgba(0,0,0,0.3); margin-right: 0.35em; }
.simmemre ul { padding-left: 1.4em; } .simmemre li { margin: 0.1em 0; }
.simmemre .score { color: #666; font-variant-numeric: tabular-nums; }
.simmemre .empty { color: #666; font-style: italic; }
.simmemre .meta { color: #666; font-size: 0.9em; }
.simmemre .m, .simmemre .tag, .simmemre .swatch { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
@media (forced-colors: active) { .simmemre .m { border-bottom-color: CanvasText; } }
"""
_PAGE_STYLE = "body { margin: 2em auto; max-width: 72em; padding: 0 1em; }"


def entity_colour(index: int) -> str:
    """A light colour per entity cluster (golden-angle hue steps, so neighbours differ), as hex: JupyterLab's sanitizer
    of untrusted outputs drops `hsl()` colours."""
    hue = round(index * 137.508) % 360
    lightness = 0.82 if index % 2 == 0 else 0.72
    red, green, blue = colorsys.hls_to_rgb(hue / 360, lightness, 0.75)
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in (red, green, blue))


def _count(number: int, noun: str, plural: str = "") -> str:
    """`number` and `noun`, plural unless `number` is 1 ("1 relation", "2 relations"; `plural` for nouns that take no
    plain "s": "2 entities")."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


# Folder names that say nothing about the model: the title names their parent folder too.
_GENERIC_MODEL_FOLDERS = ("best_model", "model", "final_model")


def model_label(model) -> str:
    """A short name of a model for a page title: a local folder's name, with its parent's when the folder has a
    generic name (runs/cdr_minilm_memory/best_model -> "cdr_minilm_memory/best_model", also for checkpoint-N); a Hub
    id as given."""
    text = str(model)
    if not os.path.isdir(text):
        return text
    path = os.path.normpath(os.path.abspath(text))
    name, parent = os.path.basename(path), os.path.basename(os.path.dirname(path))
    generic = name in _GENERIC_MODEL_FOLDERS or name.startswith("checkpoint-")
    return f"{parent}/{name}" if generic and parent else name or text


# A tooltip quotes each covering mention's text up to this many characters: a long predicted span covering many others
# made the page grow with the product of the two (101 MB for one 20,000-character span over 2,500 mentions).
TOOLTIP_QUOTE_LIMIT = 60


def _score(owner, field: str, document, source: str) -> str:
    """`owner["score"]` as shown ("0.912", "n/a" for NaN), or "" without one; not a number is a `DocumentError`."""
    score = owner.get("score")
    if score is None:
        return ""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        message = f"expected a number, got {score!r}"
        raise DocumentError(message, source=source, doc_id=document["id"], field=field)
    return "n/a" if math.isnan(score) else f"{float(score):.3f}"


def _quoted(text: str) -> str:
    return f'"{text}"' if len(text) <= TOOLTIP_QUOTE_LIMIT else f'"{text[: TOOLTIP_QUOTE_LIMIT - 1]}…"'


def _scores_clause(mention_score: str, entity_score: str) -> str:
    parts = [f"{name} score {value}" for name, value in (("mention", mention_score), ("entity", entity_score)) if value]
    return ", ".join(parts)


def _text_piece(text: str) -> str:
    """Escaped text (or attribute value) that an HTML parser gives back as it is: it turns a raw CR into LF and drops
    NUL."""
    return html.escape(text).replace("\r", "&#13;").replace("\0", "\ufffd")


def _entity_name(document, index) -> str:
    entity = document["entities"][index]
    mention = entity["mentions"][0]
    return f"{document['text'][mention['start'] : mention['end']]} [{entity['type']} E{index + 1}]"


def _render_text(document, source: str) -> str:
    text = document["text"]
    entities = document["entities"]
    mentions = []  # (start, end, entity index, mention)
    scores = {}  # id(mention) -> (mention score, entity score) as shown
    for index, entity in enumerate(entities):
        for j, mention in enumerate(entity["mentions"]):
            mentions.append((mention["start"], mention["end"], index, mention))
            scores[id(mention)] = (
                _score(mention, f"entities[{index}].mentions[{j}].score", document, source),
                _score(entity, f"entities[{index}].score", document, source),
            )
    if not text:
        return '<span class="empty">(empty text)</span>'
    cuts = sorted({0, len(text)} | {m[0] for m in mentions} | {m[1] for m in mentions})
    ends_at = {}
    for start, end, index, mention in mentions:
        ends_at.setdefault(end, []).append((start, end, index, mention))
    mentions.sort(key=lambda m: (m[0], -m[1]))
    parts, active, next_mention = [], [], 0
    for left, right in zip(cuts, cuts[1:]):
        # Sweep: the mentions covering [left, right) are those started at or before `left` and not yet ended.
        while next_mention < len(mentions) and mentions[next_mention][0] <= left:
            active.append(mentions[next_mention])
            next_mention += 1
        active = [m for m in active if m[1] > left]
        covering = active
        piece = _text_piece(text[left:right])
        if covering:
            innermost = min(covering, key=lambda m: (m[1] - m[0], -m[0]))
            tooltip = "\n".join(
                f"{entities[i]['type']} E{i + 1}: {_quoted(text[s:e])} {_scores_clause(*scores[id(m)])}".rstrip()
                for s, e, i, m in sorted(covering, key=lambda m: (m[0], -m[1]))
            )
            classes = "m nested" if len(covering) > 1 else "m"
            parts.append(
                f'<mark class="{classes}" style="background:{entity_colour(innermost[2])}" '
                f'title="{_text_piece(tooltip)}">{piece}</mark>'
            )
        else:
            parts.append(piece)
        for start, end, index, mention in sorted(ends_at.get(right, []), key=lambda m: -m[0]):
            entity = entities[index]
            clause = _scores_clause(*scores[id(mention)])
            title = f"{entity['type']} E{index + 1}: {_quoted(text[start:end])} {clause}"
            # The scores (and the separators a screen reader needs) as hidden text: a title is read by hovering only.
            parts.append(
                f'<span class="tag" style="background:{entity_colour(index)}" title="{_text_piece(title.rstrip())}">'
                f'<span class="vh"> (</span><bdi>{html.escape(entity["type"])}</bdi> E{index + 1}'
                f'<span class="vh">{", " + clause if clause else ""}) </span></span>'
            )
    return "".join(parts)


def _checked(document, position: int) -> dict:
    """The document as `validate_document` accepts it (a pipeline output for a plain string has no `id`, or an empty
    one: its position names it; an integer id is shown as its string), or a `DocumentError` naming the document and
    field."""
    if isinstance(document, dict) and document.get("id", "") == "":  # (the pipeline keeps an empty id as given)
        document = {**document, "id": f"#{position + 1}"}
    return validate_document(with_str_id(document), source=f"documents[{position}]")


def _bdi(text: str) -> str:
    """Escaped and isolated: a right-to-left name or a stray U+202E cannot reorder the labels around it."""
    return f"<bdi>{_text_piece(text)}</bdi>"


def render_document(document, position: int = 0) -> str:
    """One document as an HTML `<section>`."""
    document, source = _checked(document, position), f"documents[{position}]"
    entities, relations, text = document["entities"], document["relations"], document["text"]
    out = [f"<section><h2>Document {_bdi(document['id'])}</h2>"]
    out.append(
        f'<p class="meta">{_count(len(entities), "entity", "entities")}, '
        f"{_count(sum(len(e['mentions']) for e in entities), 'mention')}, "
        f"{_count(len(relations), 'relation')}</p>"
    )
    out.append(f'<div class="text" dir="auto">{_render_text(document, source)}</div>')
    out.append("<h3>Entities</h3>")
    if entities:
        out.append("<ul>")
        for index, entity in enumerate(entities):
            surfaces = sorted({text[m["start"] : m["end"]] for m in entity["mentions"]})
            score = _score(entity, f"entities[{index}].score", document, source)
            out.append(
                f'<li><span class="swatch" style="background:{entity_colour(index)}"></span>'
                f"E{index + 1} <b>{_bdi(entity['type'])}</b>"
                + (f' <span class="score">({score})</span>' if score else "")
                + f": {' | '.join(_bdi(surface) for surface in surfaces)}</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="empty">no entities</p>')
    out.append("<h3>Relations</h3>")
    if relations:
        out.append("<ul>")
        for index, relation in enumerate(relations):
            head, tail = relation["head"], relation["tail"]
            score = _score(relation, f"relations[{index}].score", document, source)
            score_text = f' <span class="score">({score})</span>' if score else ""
            out.append(
                f'<li><span class="swatch" style="background:{entity_colour(head)}"></span>'
                f"{_bdi(_entity_name(document, head))} — <b>{_bdi(relation['type'])}</b> → "
                f'<span class="swatch" style="background:{entity_colour(tail)}"></span>'
                f"{_bdi(_entity_name(document, tail))}{score_text}</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="empty">no relations</p>')
    out.append("</section>")
    return "\n".join(out)


def render_fragment(documents, title: Optional[str] = None) -> str:
    """The documents as one `<div class="simmemre">` with its own (scoped) style, to put inside another page: what a
    notebook displays (see :func:`view`)."""
    documents = list(documents)
    body = "\n".join(render_document(document, position) for position, document in enumerate(documents))
    heading = "" if title is None else f"<h1>{html.escape(title)}</h1>\n"
    fragment = (
        f'<div class="simmemre"><style>{_STYLE}</style>\n{heading}<p class="meta">{_count(len(documents), "document")}.'
        " Each mention is followed by its type and entity number (E1: the first of the Entities list), its scores on "
        "hover and for screen readers; one colour per entity (coreference cluster).</p>\n"
        f"{body}\n</div>"
    )
    return _LONE_SURROGATE.sub("\ufffd", fragment)


def render_html(documents, title: str = "SimMemRE predictions") -> str:
    """A complete, self-contained HTML page for a list of schema documents, encodable as UTF-8 (a lone surrogate,
    which JSON allows in a text, is shown as U+FFFD)."""
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>\n<body><main>\n"
        f"{render_fragment(documents, title)}\n</main></body></html>\n"
    )
    return _LONE_SURROGATE.sub("\ufffd", page)


class DocumentView:
    """Schema documents shown inline by Jupyter (`_repr_html_`: :func:`render_fragment`); `html` is that fragment."""

    def __init__(self, documents, title: Optional[str] = None):
        self.html = render_fragment(documents, title)

    def _repr_html_(self) -> str:
        return self.html


def view(documents, title: Optional[str] = None) -> DocumentView:
    """Documents (a pipeline's output: one document or a list) to display in a notebook: the last expression of a cell,
    or `IPython.display.display(view(documents))`. Checked against the schema here, not when displayed."""
    return DocumentView([documents] if isinstance(documents, dict) else documents, title)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


__all__ = ["render_html", "render_fragment", "render_document", "view", "DocumentView", "entity_colour", "model_label"]
