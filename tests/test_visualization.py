"""The HTML view of schema documents (`simmemre.visualization_simmemre`)."""

import subprocess
from html.parser import HTMLParser

import pytest
from helpers import LOW, TEXTS

from simmemre.data_simmemre import DocumentError
from simmemre.visualization_simmemre import model_label, render_html


class _TextReader(HTMLParser):
    """The characters of each document's text div as a browser shows them, without the type labels, and the elements
    and attributes of the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self.tags, self.attributes = [], set(), set()
        self._depth = 0  # inside a text div: nesting depth of its elements
        self._label_depth = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        classes = dict(attrs).get("class") or ""
        if tag == "div" and "text" in classes.split():
            self.texts.append("")
            self._depth = 1
        elif self._depth:
            self._depth += 1
            if self._label_depth is None and "tag" in classes.split():
                self._label_depth = self._depth

    def handle_endtag(self, tag):
        if self._depth:
            if self._label_depth == self._depth:
                self._label_depth = None
            self._depth -= 1

    def handle_data(self, data):
        if self._depth and self._label_depth is None:
            self.texts[-1] += data


def read_back(page: str) -> _TextReader:
    reader = _TextReader()
    reader.feed(page)
    return reader


def one_entity(text, start, end, **extra):
    return {
        "id": "d",
        "text": text,
        "entities": [{"type": "Chemical", "mentions": [{"start": start, "end": end}], **extra}],
        "relations": [],
    }


def test_html_renders_nested_and_overlapping_mentions():
    document = {
        "id": "d",
        "text": "low-dose aspirin caused ulcers",
        "entities": [
            {
                "type": "Chemical",
                "score": 0.9,
                "mentions": [
                    {"start": 0, "end": 16, "text": "low-dose aspirin", "score": 0.8},
                    {"start": 9, "end": 16, "text": "aspirin", "score": 0.95},
                ],
            },
            {
                "type": "Disease",
                "score": 0.7,
                "mentions": [{"start": 13, "end": 30, "text": "rin caused ulcers", "score": 0.6}],
            },
        ],
        "relations": [{"head": 0, "tail": 1, "type": "CID", "score": 0.66}],
    }
    page = render_html([document])
    assert page.count('class="tag"') == 3
    assert "mention score 0.950" in page
    assert "<bdi>low-dose aspirin [Chemical E1]</bdi> — <b><bdi>CID</bdi></b> →" in page
    assert "(0.660)" in page and 'class="m nested"' in page


def test_html_counts_are_singular_for_one_and_the_title_label_names_the_run(tmp_path):
    one = {
        "id": "d",
        "text": "aspirin",
        "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}]}],
        "relations": [{"head": 0, "tail": 0, "type": "CID"}],
    }
    page = render_html([one])
    assert "1 document. " in page and "1 entity, 1 mention, 1 relation</p>" in page
    assert "2 entities, 2 mentions, 0 relations</p>" in render_html(
        [{**one, "entities": one["entities"] * 2, "relations": []}]
    )
    folder = tmp_path / "cdr_minilm_memory" / "best_model"
    folder.mkdir(parents=True)
    assert model_label(folder) == model_label(f"{folder}/") == "cdr_minilm_memory/best_model"
    assert model_label(folder.parent) == "cdr_minilm_memory"  # a folder with a telling name stands alone
    assert model_label("me/simmemre-cdr") == "me/simmemre-cdr"  # a Hub id, as given


# ----------------------------------------------------------------------------------------------------
# Slow: rendering check in a real browser
# ----------------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_html_screenshot_in_headless_chromium(pipe, tmp_path):
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    documents = pipe([TEXTS[0], {"id": "cjk", "text": "阿司匹林导致溃疡。"}], **{**LOW, "coref_threshold": 0.5})
    page = tmp_path / "page.html"
    page.write_text(render_html(documents), encoding="utf-8")
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_a_lone_surrogate_in_the_text_does_not_stop_the_page():
    """predict.py --html wrote the predictions, then failed encoding the page and left an empty file."""
    document = {
        "id": "s",
        "text": "Aspirin \ud83d causes ulcers.",
        "entities": [{"type": "Chemical", "mentions": [{"start": 0, "end": 7}]}],
        "relations": [],
    }
    page = render_html([document])
    page.encode("utf-8")  # raised UnicodeEncodeError
    assert "\ufffd causes ulcers." in page


PAYLOAD = "x\"'><script>alert(1)</script></div></span><img src=x onerror=alert(2)>&amp;&<!--"


def test_markup_in_every_field_stays_text():
    text = f"{PAYLOAD} causes {PAYLOAD}"
    start = len(PAYLOAD) + len(" causes ")
    document = {
        "id": PAYLOAD,
        "text": text,
        "entities": [
            {"type": PAYLOAD, "mentions": [{"start": 0, "end": len(PAYLOAD), "text": PAYLOAD}]},
            {"type": "Disease", "mentions": [{"start": start, "end": len(text)}]},
        ],
        "relations": [{"head": 0, "tail": 1, "type": PAYLOAD}],
    }
    reader = read_back(render_html([document], title=PAYLOAD))
    assert reader.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "span"} | {
        "main",
        "section",
        "mark",
        "ul",
        "li",
        "b",
        "bdi",
    }
    assert reader.attributes <= {"charset", "class", "lang", "style", "title", "dir", "name", "content"}
    assert reader.texts == [text]


@pytest.mark.parametrize(
    "text, surfaces",
    [
        ("aspirin", ["aspirin"]),
        ("A 👨‍👩‍👧 took aspirin\u0301 and caffeine.", ["👨‍👩‍👧 took", "aspirin\u0301", "caffeine"]),
        ("low-dose aspirin caused ulcers", ["low-dose aspirin", "aspirin", "rin caused ulcers"]),
        ("line one\r\nline\ttwo\x00 aspirin", ["line", "one\r\nline", "aspirin"]),
        ("الأسبرين يسبب القرحة", ["الأسبرين", "القرحة"]),
    ],
)
def test_every_character_of_the_text_reads_back_once_in_order(text, surfaces):
    """CR became LF and NUL vanished in the browser's copy of the text (offsets index the original)."""
    spans = [(text.index(surface), text.index(surface) + len(surface)) for surface in surfaces]
    document = {
        "id": "d",
        "text": text,
        "entities": [{"type": "T", "mentions": [{"start": s, "end": e}]} for s, e in spans],
        "relations": [],
    }
    page = render_html([document])
    expected = text.replace("\x00", "\ufffd")
    assert read_back(page).texts == [expected]
    assert "\r" not in page


def test_a_document_off_the_schema_is_named_with_its_field():
    """A relation to a missing entity was drawn as if it existed; a bad offset was left out without a word."""
    document = one_entity("aspirin causes ulcers", 0, 7)
    with pytest.raises(DocumentError, match=r"document d: relations\[0\]\.tail: entity index 5 does not exist"):
        render_html([{**document, "relations": [{"head": 0, "tail": 5, "type": "CID"}]}])
    with pytest.raises(DocumentError, match=r"entities\[0\]\.mentions\[0\]"):
        render_html([one_entity("aspirin", 5, 99)])
    with pytest.raises(DocumentError, match=r"entities\[0\]\.score: expected a number, got 'high'"):
        render_html([one_entity("aspirin", 0, 7, score="high")])


def test_a_document_without_an_id_is_named_by_its_position():
    document = one_entity("aspirin", 0, 7)
    del document["id"]
    assert "Document <bdi>#2</bdi>" in render_html([one_entity("caffeine", 0, 8), document])


def test_integer_and_empty_ids_as_the_pipeline_returns_them_render():
    """predict.py --html ended in a traceback after predicting a corpus with numeric ids (the pipeline keeps them)."""
    numbered, empty = one_entity("aspirin", 0, 7), one_entity("caffeine", 0, 8)
    numbered["id"], empty["id"] = 27, ""
    page = render_html([numbered, empty])
    assert "Document <bdi>27</bdi>" in page and "Document <bdi>#2</bdi>" in page


def test_gold_documents_without_scores_show_no_empty_score():
    page = render_html([one_entity("aspirin", 0, 7)])
    assert "()" not in page and "score ," not in page and "score \n" not in page
    assert "n/a" in render_html([one_entity("aspirin", 0, 7, score=float("nan"))])


def test_tooltips_quote_long_mentions_in_part():
    """Each piece's tooltip quoted every covering mention whole: 101 MB for one long span over 2,500 mentions."""
    text = " ".join(["aspirin"] * 400)
    document = {
        "id": "d",
        "text": text,
        "entities": [
            {"type": "T", "mentions": [{"start": 0, "end": len(text)}]},
            {"type": "T", "mentions": [{"start": 8 * i, "end": 8 * i + 7} for i in range(400)]},
        ],
        "relations": [],
    }
    assert len(render_html([document])) < 40 * len(text) + 200_000


def test_the_notebook_view_is_a_fragment_whose_style_stays_inside_it():
    """The page's style was global (body, h2, ul, .tag): shown in a notebook it restyled the notebook's own page."""
    import re

    from simmemre.visualization_simmemre import DocumentView, view

    shown = view(one_entity("aspirin causes ulcers", 0, 7))  # one document, as the pipeline returns it
    assert isinstance(shown, DocumentView)
    fragment = shown._repr_html_()
    assert fragment.startswith('<div class="simmemre">') and "<body" not in fragment and "<html" not in fragment
    style = re.search(r"<style>(.*?)</style>", fragment, re.DOTALL).group(1)
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", style) for s in rule.split(",")]
    selectors = [s for s in selectors if not s.startswith("@media")]  # (an at-rule's condition, its rules scoped)
    assert selectors and all(s.startswith(".simmemre") for s in selectors), selectors
    assert "Document <bdi>d</bdi>" in fragment


def test_the_notebook_view_checks_its_documents_when_made():
    from simmemre.visualization_simmemre import view

    with pytest.raises(DocumentError, match=r"^documents\[1\]: document d: entities\[0\]\.mentions\[0\]"):
        view([one_entity("aspirin", 0, 7), one_entity("aspirin", 5, 99)])


def test_scores_reach_keyboard_touch_and_screen_reader_users_and_dark_or_sanitized_notebooks():
    """Accessibility audit: a mention's score was only a hover tooltip; the labels ran into the words for a screen
    reader ("IndomethacinChemical E1"); the fragment had no background (its #222 text on a dark notebook theme: 1.05:1);
    hsl() colours are dropped by JupyterLab's sanitizer of untrusted outputs; no viewport (a phone laid it out 980 px
    wide)."""
    import re

    from simmemre.visualization_simmemre import entity_colour, render_fragment

    document = one_entity("Indomethacin induced hypotension", 0, 12, score=0.9)
    document["entities"][0]["mentions"][0]["score"] = 0.95
    page = render_html([document])
    label = '<span class="vh"> (</span><bdi>Chemical</bdi> E1<span class="vh">, mention score 0.950, entity score 0.9'
    assert label in page and "Hover" not in page
    assert '<mark class="m" style="background:#' in page
    assert all(re.fullmatch(r"#[0-9a-f]{6}", entity_colour(index)) for index in range(50))
    assert len({entity_colour(index) for index in range(12)}) == 12
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page and "<main>" in page
    surface = re.search(r"\.simmemre \{([^}]*)\}", render_fragment([document])).group(1)
    assert "background: #fff" in surface and "color-scheme: light" in surface
