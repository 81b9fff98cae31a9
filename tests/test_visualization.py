"""The HTML view of schema documents (`simmemre.visualization_simmemre`)."""

import subprocess

import pytest
from helpers import LOW, TEXTS

from simmemre.visualization_simmemre import model_label, render_html


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
    assert "mention score 0.950" in page and "low-dose aspirin [Chemical E1] — <b>CID</b> →" in page
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
