"""HTML rendering of predicted (or gold) schema documents: mentions highlighted with one colour per entity cluster and a
type label, scores on hover, relations listed per document as "head — type → tail (score)".

Standard library only. Overlapping and nested mentions are handled by cutting the text at every mention boundary: each
piece is highlighted with the colour of the innermost mention covering it, and its tooltip lists all of them.
"""

import html
import os
import re

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 72em;
       color: #222; line-height: 1.9; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2.2em; border-bottom: 1px solid #ccc; }
.text { white-space: pre-wrap; background: #fafafa; border: 1px solid #e4e4e4; padding: 0.8em 1em; border-radius: 6px; }
.m { border-radius: 3px; padding: 0.1em 0.05em; cursor: help; }
.m.nested { outline: 1px dashed #555; }
.tag { font-size: 0.68em; font-weight: 600; border-radius: 3px; padding: 0 0.3em; margin: 0 0.15em 0 0.1em;
       vertical-align: 0.25em; color: #222; border: 1px solid rgba(0,0,0,0.25); cursor: help; white-space: nowrap; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; vertical-align: -0.1em;
          border: 1px solid rgba(0,0,0,0.3); margin-right: 0.35em; }
ul { padding-left: 1.4em; } li { margin: 0.1em 0; }
.score { color: #666; font-variant-numeric: tabular-nums; }
.empty { color: #888; font-style: italic; }
.meta { color: #666; font-size: 0.9em; }
"""


def entity_colour(index: int) -> str:
    """A light colour per entity cluster (golden-angle hue steps, so neighbours differ)."""
    hue = (index * 137.508) % 360
    lightness = 82 if index % 2 == 0 else 72
    return f"hsl({hue:.0f}, 75%, {lightness}%)"


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


def _fmt(score) -> str:
    return "" if score is None else f"{float(score):.3f}"


def _entity_name(document, index) -> str:
    entities = document.get("entities") or []
    if not 0 <= index < len(entities):
        return f"E{index + 1}"
    entity = entities[index]
    mentions = entity.get("mentions") or []
    text = document.get("text", "")
    if not mentions:
        return f"? [{entity.get('type', '?')} E{index + 1}]"
    surface = mentions[0].get("text") or text[mentions[0]["start"] : mentions[0]["end"]]
    return f"{surface} [{entity.get('type', '?')} E{index + 1}]"


def _render_text(document) -> str:
    text = document.get("text", "")
    mentions = []  # (start, end, entity index, mention)
    for index, entity in enumerate(document.get("entities") or []):
        for mention in entity.get("mentions") or []:
            start, end = int(mention["start"]), int(mention["end"])
            if 0 <= start < end <= len(text):
                mentions.append((start, end, index, mention))
    if not text:
        return '<span class="empty">(empty text)</span>'
    cuts = sorted({0, len(text)} | {m[0] for m in mentions} | {m[1] for m in mentions})
    ends_at = {}
    for start, end, index, mention in mentions:
        ends_at.setdefault(end, []).append((start, end, index, mention))
    entities = document.get("entities") or []
    mentions.sort(key=lambda m: (m[0], -m[1]))
    parts, active, next_mention = [], [], 0
    for left, right in zip(cuts, cuts[1:]):
        # Sweep: the mentions covering [left, right) are those started at or before `left` and not yet ended.
        while next_mention < len(mentions) and mentions[next_mention][0] <= left:
            active.append(mentions[next_mention])
            next_mention += 1
        active = [m for m in active if m[1] > left]
        covering = active
        piece = html.escape(text[left:right])
        if covering:
            innermost = min(covering, key=lambda m: (m[1] - m[0], -m[0]))
            tooltip = "\n".join(
                f'{entities[i].get("type", "?")} E{i + 1}: "{text[s:e]}" mention score {_fmt(m.get("score"))}'
                f", entity score {_fmt(entities[i].get('score'))}"
                for s, e, i, m in sorted(covering, key=lambda m: (m[0], -m[1]))
            )
            classes = "m nested" if len(covering) > 1 else "m"
            parts.append(
                f'<span class="{classes}" style="background:{entity_colour(innermost[2])}" '
                f'title="{html.escape(tooltip)}">{piece}</span>'
            )
        else:
            parts.append(piece)
        for start, end, index, mention in sorted(ends_at.get(right, []), key=lambda m: -m[0]):
            entity = entities[index]
            title = (
                f"{entity.get('type', '?')} E{index + 1}: mention score {_fmt(mention.get('score'))}, "
                f"entity score {_fmt(entity.get('score'))}"
            )
            parts.append(
                f'<span class="tag" style="background:{entity_colour(index)}" title="{html.escape(title)}">'
                f"{html.escape(str(entity.get('type', '?')))} E{index + 1}</span>"
            )
    return "".join(parts)


def render_document(document, position: int = 0) -> str:
    """One document as an HTML `<section>`."""
    doc_id = document.get("id", f"#{position + 1}")
    entities = document.get("entities") or []
    relations = document.get("relations") or []
    out = [f"<section><h2>Document {html.escape(str(doc_id))}</h2>"]
    out.append(
        f'<p class="meta">{_count(len(entities), "entity", "entities")}, '
        f"{_count(sum(len(e.get('mentions') or []) for e in entities), 'mention')}, "
        f"{_count(len(relations), 'relation')}</p>"
    )
    out.append(f'<div class="text">{_render_text(document)}</div>')
    out.append("<h3>Entities</h3>")
    if entities:
        out.append("<ul>")
        for index, entity in enumerate(entities):
            surfaces = sorted(
                {m.get("text") or document.get("text", "")[m["start"] : m["end"]] for m in entity.get("mentions") or []}
            )
            out.append(
                f'<li><span class="swatch" style="background:{entity_colour(index)}"></span>'
                f"E{index + 1} <b>{html.escape(str(entity.get('type', '?')))}</b> "
                f'<span class="score">({_fmt(entity.get("score"))})</span>: '
                f"{html.escape(' | '.join(surfaces))}</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="empty">no entities</p>')
    out.append("<h3>Relations</h3>")
    if relations:
        out.append("<ul>")
        for relation in relations:
            head, tail = int(relation["head"]), int(relation["tail"])
            score = relation.get("score")
            score_text = f' <span class="score">({_fmt(score)})</span>' if score is not None else ""
            out.append(
                f'<li><span class="swatch" style="background:{entity_colour(head)}"></span>'
                f"{html.escape(_entity_name(document, head))} — <b>{html.escape(str(relation.get('type', '?')))}</b> → "
                f'<span class="swatch" style="background:{entity_colour(tail)}"></span>'
                f"{html.escape(_entity_name(document, tail))}{score_text}</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="empty">no relations</p>')
    out.append("</section>")
    return "\n".join(out)


def render_html(documents, title: str = "SimMemRE predictions") -> str:
    """A complete, self-contained HTML page for a list of schema documents, encodable as UTF-8 (a lone surrogate,
    which JSON allows in a text, is shown as U+FFFD)."""
    documents = list(documents)
    body = "\n".join(render_document(document, position) for position, document in enumerate(documents))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="meta">{_count(len(documents), "document")}. Hover a highlighted '
        "mention or a label for its scores; one colour per entity (coreference cluster).</p>\n"
        f"{body}\n</body></html>\n"
    )
    return _LONE_SURROGATE.sub("\ufffd", page)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


__all__ = ["render_html", "render_document", "entity_colour", "model_label"]
