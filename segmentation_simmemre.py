# coding=utf-8
"""Text segmentation for SimMemRE: words and sentences as character spans.

Deterministic, offset-preserving and dependency-free (standard library only), because the same code has to run inside
a Hub user's process as remote code, next to processing_simmemre.py, which imports it relatively. Words are runs of
letters/digits or single other visible characters, each CJK ideograph a word of its own (Chinese and Japanese kanji
are written without spaces; BERT's basic tokenizer splits them the same way), with combining marks (accents in
decomposed text, Indic vowel signs, variation selectors) kept on the character they modify; sentences end at terminal
punctuation followed by whitespace and a plausible sentence start, at CJK full stops, and at blank lines.
"""

import bisect
import re
import unicodedata
from typing import Iterable, Sequence

# The CJK ideograph blocks of BERT's basic tokenizer (`_is_chinese_char`): unified ideographs, extensions A-E and the
# compatibility ideographs. Each ideograph is a word of its own, and so is each Hangul syllable: Korean puts particles
# on the noun without a space ("아스피린은", aspirin + topic particle), and character-level units are what Korean NER
# corpora annotate (KLUE-NER). Katakana and hiragana runs are words of their own, so a katakana name ends where the
# hiragana particle after it begins ("アスピリンは"). Thai, Lao, Khmer and Burmese, written without spaces, stay in
# runs: no rule without a dictionary splits them; give such documents their `words`.
_CJK_IDEOGRAPHS = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ceaf\U0002f800-\U0002fa1f"
)
_HANGUL_SYLLABLES = "\uac00-\ud7a3"
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # without the middle dot (punctuation)
_HIRAGANA = "\u3041-\u3096\u309d-\u309f"  # without the combining (semi-)voiced marks, which join like accents
_OWN_WORDS = _CJK_IDEOGRAPHS + _HANGUL_SYLLABLES + _KATAKANA + _HIRAGANA
WORD_PATTERN = re.compile(  # letter/digit runs first: most text has none of the others
    rf"[^\W_{_OWN_WORDS}]+|[{_KATAKANA}]+|[{_HIRAGANA}]+|[{_CJK_IDEOGRAPHS}{_HANGUL_SYLLABLES}]|\S"
)
_RUN_CLASSES = tuple(re.compile(rf"[{chars}]").match for chars in (rf"^\W_{_OWN_WORDS}", _KATAKANA, _HIRAGANA))


def _continues_run(first: str, char: str) -> bool:
    """Whether `char` continues a run that began with `first`: both letters/digits, both katakana or both hiragana."""
    return any(matches(first) and matches(char) for matches in _RUN_CLASSES)


# Sentence ends before whitespace: Latin, Devanagari (danda), Arabic and Urdu, Armenian, Ethiopic, Burmese.
_SENTENCE_END_CHARS = ".!?\u0964\u0965\u061f\u06d4\u0589\u1362\u1367\u104b"
# Sentence ends without whitespace after them: the ideographic and full-width stops of Chinese and Japanese.
_CJK_SENTENCE_END_CHARS = "。！？｡．"
# “ closes a German quotation („Ende.“); as an English opening quote it touches the word after it (see _closes).
# « closes a German quotation (»Ende.«) only attached to the word before it: spaced, it opens a French one.
_CLOSING_CHARS = "\"')]}»”’“«"
# Brackets that only ever close: Latin, and the full-width and corner brackets of Chinese and Japanese (「終わり。」).
_CLOSING_BRACKETS = ")]}」』）】〕〉》〗〙〛］｝"
# Japanese quotative particles: after a closing bracket a word that begins with one goes on with the sentence that
# quoted (「終わり。」と言った, 「はい。」とうなずいた), unless it is a word that begins sentences (とにかく).
_QUOTATIVE_PARTICLES = ("と", "って")
_SENTENCE_WORDS_LIKE_PARTICLES = ("とても", "ところ", "とにかく", "とりあえず", "ともかく", "とはいえ", "とうとう")
# Line breaks as str.splitlines() knows them ("\r\n" is one). A blank line (two breaks with only other whitespace
# between) ends a paragraph, and so do a form feed and U+2029 on their own.
_LINE_BREAK_CHARS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = r"(?:\r\n|\r(?!\n)|[\n\x0b\x1c\x1d\x1e\x85\u2028])"
_PARAGRAPH_BREAK = re.compile(rf"{_LINE_BREAK}[^\S{_LINE_BREAK_CHARS}]*{_LINE_BREAK}|[\x0c\u2029]")
_HAS_LINE_BREAK = re.compile(f"[{_LINE_BREAK_CHARS}]").search
# A sentence can only end after a word whose last character is one of these (or at a blank line).
_STOP_CHARS = _SENTENCE_END_CHARS + _CJK_SENTENCE_END_CHARS
_CLOSING_OR_BRACKET_CHARS = _CLOSING_CHARS + _CLOSING_BRACKETS
_SENTENCE_FINAL_CHARS = _STOP_CHARS + _CLOSING_OR_BRACKET_CHARS
# Tokens that end with a period without ending the sentence ("e.g. Aspirin", "et al. 2019", "Fig. 3").
ABBREVIATIONS = frozenset(
    "al approx ca cf dr e.g eg etc fig figs i.e ie inc jr ltd mr mrs ms no nos prof resp sr st vs viz vol".split()
)
_LONGEST_ABBREVIATION = max(map(len, ABBREVIATIONS))


# Invisible format characters: joiners keep the characters on both sides in one word (emoji ZWJ sequences, the
# zero-width non-joiner inside Persian and Indic words, the word joiner); separators are no word of their own.
# The soft hyphen is a hyphenation point inside a word (HTML `&shy;`). Bidirectional marks and invisible operators
# separate without being words: they have no subword of their own.
_JOINERS = "\u200c\u200d\u2060\u00ad"
_INVISIBLE_SEPARATORS = "\u200b\ufeff\u200e\u200f\u2061\u2062\u2063\u2064"
# Emoji parts that belong to the character before them: skin-tone modifiers and the tags of subdivision flags.
_EMOJI_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]").match
_REGIONAL_INDICATORS = re.compile("[\U0001f1e6-\U0001f1ff]").match  # two make one flag


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _needs_care(char: str) -> bool:
    return (
        _is_mark(char)
        or char in _JOINERS
        or char in _INVISIBLE_SEPARATORS
        or _EMOJI_MODIFIERS(char) is not None
        or _REGIONAL_INDICATORS(char) is not None
    )


def _natural_words(text: str) -> list[tuple[int, int]]:
    """`WORD_PATTERN` matches, with combining marks (Unicode category M, which `\\w` does not match)
    joined to the character before them and letters after such a mark joined to the same word, so
    "Re\\u0301sume\\u0301" (decomposed "Résumé") or Devanagari "हिन्दी" stay one word; a joiner joins the
    characters on both sides ("👨\\u200d👩" and "cloni\\u00addine" are one word), a skin-tone modifier joins the
    emoji before it and two regional indicators make one flag; a zero-width space, byte-order mark or bidirectional
    mark is no word."""
    if text.isascii() or not any(_needs_care(char) for char in set(text) if not char.isascii()):
        return [match.span() for match in WORD_PATTERN.finditer(text)]  # nothing to join: the matches as they are
    words: list[tuple[int, int]] = []
    for match in WORD_PATTERN.finditer(text):
        start, end = match.span()
        if text[start] in _INVISIBLE_SEPARATORS:  # a one-character match of `\\S`
            continue
        if words and words[-1][1] == start:
            previous_start, previous_end = words[-1]
            last = text[previous_end - 1]
            if (
                _is_mark(text[start])
                or text[start] in _JOINERS
                or last in _JOINERS
                or _EMOJI_MODIFIERS(text[start])
                or (
                    _REGIONAL_INDICATORS(text[start])
                    and previous_end - previous_start == 1
                    and _REGIONAL_INDICATORS(last)
                )
                # a run split by a mark goes on (not an ideograph or syllable, not another kind of run)
                or (_is_mark(last) and _continues_run(text[previous_start], text[start]))
            ):
                words[-1] = (previous_start, end)
                continue
        words.append((start, end))
    return words


def split_words(text: str, split_points: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Character spans `(start, end)` of the words of `text`.

    `split_points` are character offsets at which a word boundary is forced (e.g. annotated mention
    boundaries that fall inside a run of letters such as "Lidocaine-induced" or "antiHIV").
    """
    points = sorted(set(split_points))
    if not points:
        return _natural_words(text)
    words: list[tuple[int, int]] = []
    point_index = 0
    for start, end in _natural_words(text):
        while point_index < len(points) and points[point_index] <= start:
            point_index += 1
        cut_index = point_index
        while cut_index < len(points) and points[cut_index] < end:
            words.append((start, points[cut_index]))
            start = points[cut_index]
            cut_index += 1
        words.append((start, end))
    return words


def _is_sentence_start(first: str) -> bool:
    return first.isupper() or first.isdigit() or first in "\"'([{«“‘" or not first.isalpha() or not first.isascii()


def split_sentences(
    text: str, words: Sequence[tuple[int, int]], no_break_spans: Iterable[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """Group `words` into sentences; returns `(first_word, last_word_exclusive)` index pairs.

    No sentence boundary is placed strictly inside any of `no_break_spans` (character spans), so an
    annotated mention never straddles two sentences.
    """
    if not words:
        return []
    protected = sorted(no_break_spans)
    # A break before word i is forbidden if a protected span starts before word i and ends after its start.
    forbidden = set()
    if protected:
        word_starts = [start for start, _ in words]
        for span_start, span_end in protected:
            first = bisect.bisect_right(word_starts, span_start)
            last = bisect.bisect_left(word_starts, span_end)
            forbidden.update(range(first, last))

    closing = _closing_words(text, words)
    boundaries = [0]
    for i in range(1, len(words)):
        previous_start, previous_end = words[i - 1]
        start = words[i][0]
        if text[previous_end - 1] not in _SENTENCE_FINAL_CHARS and (
            previous_end == start or not _HAS_LINE_BREAK(text, previous_end, start)
        ):
            continue  # the common case, decided without the checks below
        gap = text[previous_end:start]
        if _PARAGRAPH_BREAK.search(gap):
            breaks = True
        elif closing[i]:  # a closing quote or bracket stays with the sentence it closes ("。”", ". »")
            breaks = False
        elif text[previous_start:previous_end] in _CJK_SENTENCE_END_CHARS:
            # a full-width period between digits is a decimal point ("３．５")
            breaks = not (text[previous_start] == "．" and gap == "" and text[start].isdigit())
        else:
            # after closing quotes, a CJK stop ends the sentence without a space too ("“结束了。”然后")
            ends = _ends_sentence(text, words, i - 1, closing)
            breaks = (gap != "" or _closes_cjk_sentence(text, words, i - 1, closing)) and ends
            breaks = breaks and _is_sentence_start(text[start]) and not _quotes_on(text[start : words[i][1]])
        if breaks and i not in forbidden:
            boundaries.append(i)
    boundaries.append(len(words))
    return [(boundaries[k], boundaries[k + 1]) for k in range(len(boundaries) - 1)]


def _quotes_on(word: str) -> bool:
    """Whether `word` (after a closing bracket) goes on with the sentence that quoted: see `_QUOTATIVE_PARTICLES`."""
    return word.startswith(_QUOTATIVE_PARTICLES) and not word.startswith(_SENTENCE_WORDS_LIKE_PARTICLES)


def _is_closing(text: str, word: tuple[int, int]) -> bool:
    return word[1] - word[0] == 1 and text[word[0]] in _CLOSING_OR_BRACKET_CHARS


def _closing_words(text: str, words: Sequence[tuple[int, int]]) -> list[bool]:
    """For each word, whether it is a closing quote or bracket (one of `_CLOSING_CHARS`), judged by its neighbours, in
    one pass over the words. A run of touching quotes is judged as one: between a space (or a stop) and a letter or
    digit it opens (”Nu in Swedish, ’Tis, ’90s, "Go", "'Hello) unless it comes straight after a stop (。"然后); ”’
    otherwise close, and so does a quote attached to the word before it; a straight quote with spaces on both sides
    (tokenized text: . " Stop , " she) closes when the same quote came an odd number of times so spaced since the last
    sentence end (“ so spaced opens, » closes: French « fini. »). « closes only attached to the word before it (German
    »Ende.«); the brackets of `_CLOSING_BRACKETS` always close."""
    closing = [False] * len(words)
    counts = {}  # spaced straight quotes since the last sentence end
    index = 0
    while index < len(words):
        gap_start = words[index - 1][1] if index > 0 else 0
        if gap_start < words[index][0] and _PARAGRAPH_BREAK.search(text, gap_start, words[index][0]):
            counts.clear()  # (also after a paragraph that ends with a quote)
        if not _is_closing(text, words[index]):
            following = words[index + 1] if index + 1 < len(words) else None
            if _is_stop(text, words, index) and (
                following is None or (following[0] > words[index][1] and not _is_closing(text, following))
            ):  # a stop before a space ends the count ("2.5", "e.g." do not; nor one a quote may close: . " In)
                counts.clear()
            index += 1
            continue
        last = index  # the run of touching closing characters from here
        while last + 1 < len(words) and words[last + 1][0] == words[last][1] and _is_closing(text, words[last + 1]):
            last += 1
        run_start = words[index][0]
        spaced_before = index == 0 or words[index - 1][1] < run_start
        after = words[last + 1] if last + 1 < len(words) else None
        opens_word = after is not None and after[0] == words[last][1] and text[after[0]].isalnum()
        after_stop = not spaced_before and text[run_start - 1] in _STOP_CHARS
        for k in range(index, last + 1):
            char = text[words[k][0]]
            if char in _CLOSING_BRACKETS or after is None:
                closing[k] = True
            elif opens_word:
                closing[k] = after_stop and char != "“"  # (“ opens in Chinese after a stop: 。“你好)
            elif char == "«":
                closing[k] = not spaced_before
            elif char in "”’" or not spaced_before or char not in "\"'“":
                closing[k] = True
            elif index == last and after[0] > words[last][1]:  # a lone quote with spaces on both sides
                seen = counts.get(char, 0)
                counts[char] = seen + 1
                closing[k] = char != "“" and seen % 2 == 1
            else:
                closing[k] = True
        index = last + 1
    return closing


def _closes_cjk_sentence(text: str, words: Sequence[tuple[int, int]], index: int, closing: Sequence[bool]) -> bool:
    """Whether word `index` is a closing character after a CJK stop (over further closing characters)."""
    k = _before_closing(text, words, closing, index)
    return k < index and k >= 0 and text[words[k][0] : words[k][1]] in _CJK_SENTENCE_END_CHARS


def _before_closing(text: str, words: Sequence[tuple[int, int]], closing: Sequence[bool], index: int) -> int:
    """The last word at or before `index` that is not a closing character, in the same paragraph (-1 if none)."""
    while index >= 0 and closing[index]:
        if index > 0 and _PARAGRAPH_BREAK.search(text, words[index - 1][1], words[index][0]):
            return -1  # (a paragraph that begins with a closing character: the stop before it ended another one)
        index -= 1
    return index


def _ends_sentence(text: str, words: Sequence[tuple[int, int]], index: int, closing: Sequence[bool]) -> bool:
    """Whether word `index` is terminal punctuation (possibly followed by closing quotes/brackets)."""
    k = _before_closing(text, words, closing, index)  # (not over an opening quote: "。“你好" ends before the quote)
    return k >= 0 and _is_stop(text, words, k)


def _is_stop(text: str, words: Sequence[tuple[int, int]], k: int) -> bool:
    """Whether word `k` is a mark that ends a sentence: not the period of an abbreviation or an initial it touches."""
    token = text[words[k][0] : words[k][1]]
    if token in _CJK_SENTENCE_END_CHARS:
        return True
    if token not in _SENTENCE_END_CHARS:
        return False
    if token != "." or k == 0:
        return True
    # "e.g." / "Fig." / "J." — the period belongs to an abbreviation or an initial if it touches it.
    previous_start, previous_end = words[k - 1]
    if previous_end != words[k][0]:
        return True
    previous = text[previous_start:previous_end]
    if len(previous) == 1 and previous.isalpha() and previous.isupper():
        return False
    abbreviation = previous.lower()
    j = k - 1
    # Walk back over "e.g" style dotted abbreviations, no further than the longest one (a dot leader "......" or
    # "1.2.3.4" walked back to its start at every period: quadratic).
    while (
        len(abbreviation) <= _LONGEST_ABBREVIATION
        and j >= 2
        and words[j - 1][1] == words[j][0]
        and text[words[j - 1][0] : words[j - 1][1]] == "."
        and words[j - 2][1] == words[j - 1][0]
    ):
        abbreviation = text[words[j - 2][0] : words[j - 2][1]].lower() + "." + abbreviation
        j -= 2
    return abbreviation not in ABBREVIATIONS


def segment_spans(
    text: str, split_points: Iterable[int] = (), no_break_spans: Iterable[tuple[int, int]] = ()
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """`segment_text` as tuples: the words' character spans `(start, end)` and the sentences as ranges of words
    `(first_word, last_word_exclusive)`."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = split_words(text, split_points)
    return words, split_sentences(text, words, no_break_spans)


def segment_text(
    text: str, split_points: Iterable[int] = (), no_break_spans: Iterable[tuple[int, int]] = ()
) -> tuple[list[dict], list[dict]]:
    """Split `text` into sentences and words, both as lists of `{"start", "end"}` character spans: returns
    `(sentences, words)` (`segment_spans` returns words first).

    Every word lies inside exactly one sentence; offsets index `text` exactly (end exclusive). `split_points` are
    character offsets where a word must end (e.g. mention boundaries); `no_break_spans` are `(start, end)` character
    spans that no sentence boundary may cut (e.g. mentions).
    """
    words, sentence_word_ranges = segment_spans(text, split_points, no_break_spans)
    sentences = [{"start": words[a][0], "end": words[b - 1][1]} for a, b in sentence_word_ranges]
    return sentences, [{"start": s, "end": e} for s, e in words]
