"""Offset-preserving text segmentation (`simmemre.segmentation_simmemre.segment_text`)."""

import unicodedata

import pytest

from simmemre.segmentation_simmemre import segment_text, split_words


def words_of(text, **kwargs):
    _, words = segment_text(text, **kwargs)
    return [text[w["start"] : w["end"]] for w in words]


def sentences_of(text, **kwargs):
    sentences, _ = segment_text(text, **kwargs)
    return [text[s["start"] : s["end"]] for s in sentences]


def assert_well_formed(text, sentences, words):
    """Spans index `text`, are ordered and non-empty; words hold no whitespace; each word is in one sentence."""
    for spans in (sentences, words):
        previous_end = 0
        for span in spans:
            assert previous_end <= span["start"] < span["end"] <= len(text)
            previous_end = span["end"]
    for word in words:
        piece = text[word["start"] : word["end"]]
        assert piece and not any(c.isspace() for c in piece)
        assert sum(s["start"] <= word["start"] and word["end"] <= s["end"] for s in sentences) == 1
    # sentences are exactly covered by words: first/last word boundaries
    starts, ends = {w["start"] for w in words}, {w["end"] for w in words}
    for sentence in sentences:
        assert sentence["start"] in starts and sentence["end"] in ends


MIXED_TEXTS = [
    "Naloxone reverses the antihypertensive effect of clonidine. In rats, e.g. SHR, it did.",
    "",
    "   \n\t  ",
    "Hello 👍🏽 world 👨‍👩‍👧! Next one ❤️.",
    "cafe\u0301 au lait. Re\u0301sume\u0301 done. हिन्दी भाषा",
    "今日は晴れです。明日は雨です！次？",
    "a\tb\tc.\tD\te",
    "Dose 5\u00a0mg.\u00a0Next\u2009line\u3000here.",
    "x\x00y\x07z. \x1bNext \x7f end\r\nnew",
]


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_offsets_slice_text_exactly(text):
    sentences, words = segment_text(text)
    assert_well_formed(text, sentences, words)


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_segmentation_is_deterministic(text):
    assert segment_text(text) == segment_text(text)
    assert segment_text(text, [3], [(0, 4)]) == segment_text(text, [3], [(0, 4)])


def test_non_text_input_is_a_type_error():
    with pytest.raises(TypeError):
        segment_text(None)


def test_empty_and_whitespace_only_text_have_no_words_or_sentences():
    assert segment_text("") == ([], [])
    assert segment_text(" \t\n\u00a0\u3000 ") == ([], [])


def test_words_are_letter_digit_runs_and_single_symbols():
    assert words_of("alpha-methyldopa (5 mg/kg), [3H]-naloxone.") == [
        "alpha",
        "-",
        "methyldopa",
        "(",
        "5",
        "mg",
        "/",
        "kg",
        ")",
        ",",
        "[",
        "3H",
        "]",
        "-",
        "naloxone",
        ".",
    ]


def test_sentences_end_at_terminal_punctuation_before_a_capital():
    assert sentences_of("It works. It really works! Does it? Yes.") == [
        "It works.",
        "It really works!",
        "Does it?",
        "Yes.",
    ]


def test_no_sentence_break_before_lowercase():
    assert sentences_of("The dose was 5 mg. and then stopped.") == ["The dose was 5 mg. and then stopped."]


@pytest.mark.parametrize(
    "text",
    [
        "Drugs, e.g. Aspirin, were given.",
        "As shown by Smith et al. 2019 it holds.",
        "See Fig. 3 for the data.",
        "Written by J. R. R. Tolkien in England.",
        "Patients vs. Controls were compared.",
        "That is, i.e. The main point.",
    ],
)
def test_abbreviations_and_initials_do_not_end_sentences(text):
    assert sentences_of(text) == [text]


def test_closing_quote_after_period_stays_in_the_sentence():
    assert sentences_of('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."]


def test_blank_line_breaks_a_sentence():
    assert sentences_of("first part\n\nsecond part") == ["first part", "second part"]


def test_split_points_force_word_boundaries():
    text = "Lidocaine-induced antiHIV"
    assert words_of(text) == ["Lidocaine", "-", "induced", "antiHIV"]
    assert words_of(text, split_points=[22, 4]) == ["Lido", "caine", "-", "induced", "anti", "HIV"]


def test_split_points_outside_words_change_nothing():
    text = "a b. C d"
    assert words_of(text, split_points=[1, 2, 0, len(text), 99]) == words_of(text)


def test_split_words_matches_segment_text_words():
    text = "Compression neuropathy of the radial nerve."
    assert split_words(text, [3]) == [(w["start"], w["end"]) for w in segment_text(text, [3])[1]]


def test_no_break_spans_prevent_sentence_breaks():
    text = "Treated with Vit. C. Then recovered."
    assert sentences_of(text) == ["Treated with Vit.", "C. Then recovered."]
    start = text.index("Vit")
    assert sentences_of(text, no_break_spans=[(start, start + len("Vit. C"))]) == [text]


def test_no_break_span_across_a_paragraph_break_keeps_one_sentence():
    text = "ovarian\n\ncancer grows"
    assert sentences_of(text, no_break_spans=[(0, 15)]) == [text]


def test_emoji_are_words_of_their_own():
    text = "Hello 👍 world."
    assert words_of(text) == ["Hello", "👍", "world", "."]


def test_combining_marks_stay_in_their_word():
    text = "cafe\u0301 Re\u0301sume\u0301 हिन्दी ❤\ufe0f"
    assert words_of(text) == ["cafe\u0301", "Re\u0301sume\u0301", "हिन्दी", "❤\ufe0f"]


def test_joiners_keep_one_word_and_zero_width_spaces_are_no_words():
    """A ZWJ emoji sequence was five words (two of them the invisible joiner alone), and a zero-width space a word that
    a mention could consist of."""
    text = "👨\u200d👩\u200d👧 x\u200by می\u200cخواهم a\u2060b \ufeffc"
    assert words_of(text) == ["👨\u200d👩\u200d👧", "x", "y", "می\u200cخواهم", "a\u2060b", "c"]
    assert_well_formed(text, *segment_text(text))


def test_precomposed_accents_are_letters():
    assert words_of("naïve café Müller") == ["naïve", "café", "Müller"]


def test_cjk_full_stops_end_sentences():
    text = "今日は晴れです。明日は雨です！次？"
    assert sentences_of(text) == ["今日は晴れです。", "明日は雨です！", "次？"]
    assert words_of(text)[:6] == ["今", "日", "は", "晴", "れです", "。"]


def test_cjk_ideographs_are_words_of_their_own():
    """A run of ideographs was one word, so "阿司匹林" (aspirin) inside a clause could never be a mention."""
    assert words_of("阿司匹林导致溃疡。") == ["阿", "司", "匹", "林", "导", "致", "溃", "疡", "。"]
    assert words_of("潰瘍 Aspirin 𠀀x") == ["潰", "瘍", "Aspirin", "𠀀", "x"]


def test_katakana_and_hiragana_runs_are_words_of_their_own():
    """ "アスピリンは" (aspirin + particle) was one word, so the katakana name could not be a mention on raw text."""
    assert words_of("アスピリンは胃潰瘍を引き起こす") == [
        "アスピリン",
        "は",
        "胃",
        "潰",
        "瘍",
        "を",
        "引",
        "き",
        "起",
        "こす",
    ]
    assert words_of("ﾛｷｿﾆﾝを") == ["ﾛｷｿﾆﾝ", "を"]  # half-width katakana
    nfd = unicodedata.normalize("NFD", "ガスが")  # combining voiced marks stay on their kana
    assert words_of(nfd) == [unicodedata.normalize("NFD", "ガス"), unicodedata.normalize("NFD", "が")]


def test_hangul_syllables_are_words_of_their_own():
    """Korean writes particles on the noun ("아스피린은": aspirin + topic particle): one word was never a mention."""
    assert words_of("아스피린은 위궤양을") == ["아", "스", "피", "린", "은", "위", "궤", "양", "을"]


def test_thai_stays_one_run():
    """No dictionary-free rule splits Thai words; such documents bring their own `words`."""
    assert words_of("แอสไพรินทำให้เกิดแผล x") == ["แอสไพรินทำให้เกิดแผล", "x"]


def test_an_ideograph_or_kana_after_an_accent_is_not_glued_to_the_accented_word():
    """In decomposed text the word before ended in a combining mark, which joined the next run to it."""
    assert words_of("cafe\u0301阿司") == ["cafe\u0301", "阿", "司"]
    assert words_of("cafe\u0301アスピリン") == ["cafe\u0301", "アスピリン"]
    assert words_of(unicodedata.normalize("NFD", "大学が学生")) == [
        unicodedata.normalize("NFD", c) for c in ["大", "学", "が", "学", "生"]
    ]


def test_a_soft_hyphen_joins_the_word_and_bidirectional_marks_are_no_words():
    """ "cloni\u00addine" was three words (the trained model returned the mention "cloni"); an LRM was a word of its own
    with no subword."""
    assert words_of("of cloni\u00addine.") == ["of", "cloni\u00addine", "."]
    assert words_of("a\u200eb \u200fc\u2062d") == ["a", "b", "c", "d"]


def test_skin_tone_modifiers_and_flags_stay_with_their_emoji():
    assert words_of("👍🏽 ok 🇯🇵🇺🇸 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f") == [
        "👍🏽",
        "ok",
        "🇯🇵",
        "🇺🇸",
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    ]


@pytest.mark.parametrize("stop", ["\u0964", "\u061f", "\u06d4", "\u0589", "\u1362", "\u104b"])
def test_sentence_ends_of_other_scripts_end_sentences(stop):
    text = f"first clause{stop} Second clause{stop}"
    assert sentences_of(text) == [f"first clause{stop}", f"Second clause{stop}"]


def test_full_width_and_half_width_stops_end_sentences_but_not_decimals():
    assert sentences_of("一文目．二文目｡三") == ["一文目．", "二文目｡", "三"]
    assert sentences_of("３．５ｍｇ投与") == ["３．５ｍｇ投与"]


def test_tabs_separate_words():
    assert words_of("a\tb\tc") == ["a", "b", "c"]


def test_nbsp_and_unicode_spaces_separate_words():
    assert words_of("5\u00a0mg\u2009x\u3000y") == ["5", "mg", "x", "y"]


def test_nbsp_after_period_can_end_a_sentence():
    assert sentences_of("It works.\u00a0Next one.") == ["It works.", "Next one."]


def test_control_characters_keep_offsets_exact():
    text = "x\x00y z.\x1b Next"
    sentences, words = segment_text(text)
    assert_well_formed(text, sentences, words)
    assert [text[w["start"] : w["end"]] for w in words] == ["x", "\x00", "y", "z", ".", "\x1b", "Next"]


def test_crlf_line_endings():
    text = "One line.\r\nTwo line.\r\n\r\nthree"
    assert sentences_of(text) == ["One line.", "Two line.", "three"]


@pytest.mark.parametrize(
    "gap",
    ["\r\r", "\r\n\r\n", "\n \t\n", "\u2029", "\x0c", "\u2028\u2028", "\x85\x85"],
    ids=["cr-cr", "crlf-crlf", "blank-line-with-spaces", "paragraph-separator", "form-feed", "line-separators", "nel"],
)
def test_every_kind_of_blank_line_ends_a_sentence(gap):
    assert sentences_of(f"Results{gap}Aspirin causes ulcers") == ["Results", "Aspirin causes ulcers"]


@pytest.mark.parametrize("gap", ["\n", "\r\n", "\r", "\u2028"])
def test_a_single_line_break_does_not_end_a_sentence(gap):
    assert sentences_of(f"Results{gap}aspirin causes ulcers") == [f"Results{gap}aspirin causes ulcers"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("他说：“结束了。” 然后走了。", ["他说：“结束了。”", "然后走了。"]),
        ("他说：“结束了。”然后走了。", ["他说：“结束了。”", "然后走了。"]),
        ("他说完了。“你好。”她答。", ["他说完了。", "“你好。”", "她答。"]),  # “ opens here
        # quotes that open: Swedish ”, elisions, a straight quote before another, spaced quotes of tokenized text
        ("Det var slut. ”Nu går vi”, sa han.", ["Det var slut.", "”Nu går vi”, sa han."]),
        ("It was cold. ’Tis the season.", ["It was cold.", "’Tis the season."]),
        ("She said. \"'Hi,' he told me.\" Then.", ["She said.", "\"'Hi,' he told me.\"", "Then."]),
        ("Is it? “ Maybe,” he said.", ["Is it?", "“ Maybe,” he said."]),
        ('He left . " Stop , " she said . " Go . " End .', ["He left .", '" Stop , " she said .', '" Go . "', "End ."]),
        ('He left . " It rose 2.5 % . " End .', ["He left .", '" It rose 2.5 % . "', "End ."]),  # no stop in 2.5
        ('他说："结束了。"然后走了。', ['他说："结束了。"', "然后走了。"]),  # a quote right after a stop closes
        ("Il dit « c'est fini. » Puis il part.", ["Il dit « c'est fini. »", "Puis il part."]),
        ("Er sagte „Ende.“ Dann ging er.", ["Er sagte „Ende.“", "Dann ging er."]),
        ('He left. "Go," she said. Then (he ran.) Next.', ["He left.", '"Go," she said.', "Then (he ran.)", "Next."]),
        ("He said. “Go now.” Then.", ["He said.", "“Go now.”", "Then."]),
    ],
)
def test_a_closing_quote_stays_with_the_sentence_it_closes(text, expected):
    """A quote closing a CJK or a French sentence was cut off as a sentence of its own ('”', '»'), and a German one („
    … “) was not seen as closing, so the sentence did not end."""
    assert sentences_of(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("「終わりだ。」彼は帰った。", ["「終わりだ。」", "彼は帰った。"]),
        ("他说：「结束了。」然后走了。", ["他说：「结束了。」", "然后走了。"]),
        ("（注意。）次の文。", ["（注意。）", "次の文。"]),
        ("結果は【重要。】次へ。", ["結果は【重要。】", "次へ。"]),
        # a quotative particle goes on with the sentence that quoted
        ("彼は「もう終わりだ。」と言った。", ["彼は「もう終わりだ。」と言った。"]),
        ("「はい。」とうなずいた。", ["「はい。」とうなずいた。"]),  # (the particle begins a run of hiragana)
        ("「はい。」とにかく帰ろう。", ["「はい。」", "とにかく帰ろう。"]),
        ("『本当に？』と聞いた。それから帰った。", ["『本当に？』と聞いた。", "それから帰った。"]),
        # German »…«: « attached to the word before closes; spaced, it opens (French)
        ("Er sagte: »Es ist vorbei.« Dann ging er.", ["Er sagte: »Es ist vorbei.«", "Dann ging er."]),
        ("Il dit : « C'est fini. » Puis il partit.", ["Il dit : « C'est fini. »", "Puis il partit."]),
    ],
)
def test_cjk_brackets_and_german_guillemets_close_their_sentence(text, expected):
    """The corner and full-width brackets (」』）】) began the next sentence ("」彼は帰った。"), and German »…« never
    ended one."""
    assert sentences_of(text) == expected


@pytest.mark.parametrize("paragraph", [") Aspirin", "! ' Aspirin"])
@pytest.mark.parametrize("before", ["Intro.\n\n", "x ' \n\n"])
def test_a_paragraph_segments_as_it_does_alone(paragraph, before):
    """A closing bracket that begins a paragraph was judged by the previous paragraph's period, and the count of spaced
    quotes went on over a blank line after a paragraph that ended with one."""
    alone = sentences_of(paragraph)
    assert sentences_of(before + paragraph)[-len(alone) :] == alone


class CountingText(str):
    """A text that counts how often it is indexed: work measured as a count, not as time."""

    reads = 0

    def __getitem__(self, key):
        CountingText.reads += 1
        return str.__getitem__(self, key)


@pytest.mark.parametrize("run", [".", "a.", "1."])
def test_a_run_of_periods_is_read_a_bounded_number_of_times_per_character(run):
    """Every period walked back over the dotted run before it, looking for an abbreviation ("e.g."): a dot leader of
    8,000 periods took 16 s."""
    CountingText.reads = 0
    text = CountingText("Contents" + run * 2000 + " 5")
    segment_text(text)
    assert CountingText.reads < 30 * len(text)


def test_a_long_run_of_quotes_is_one_closing_run():
    """Each quote of a run judged the next one's role by recursion: 2,000 quotes in a row raised RecursionError."""
    text = "He left. " + '"' * 10_000 + " Then."
    assert sentences_of(text) == ["He left. " + '"' * 10_000, "Then."]
