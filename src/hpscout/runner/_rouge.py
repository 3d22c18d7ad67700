"""ROUGE for any script: tokenizers for ``rouge_score`` that keep Hangul, kana, Han and every other script.

``rouge_score``'s default tokenizer keeps only ``[a-z0-9]``: two identical Korean
summaries score 0 and every seq2seq trial ties. hpscout hands ``RougeScorer`` one of
these tokenizers instead (``train.rouge_tokenizer``); the ROUGE arithmetic stays
``rouge_score``'s own.

=========  ===============================================================================
words      runs of letters, digits and combining marks in any script, lower-cased and
           NFKC-normalised; scripts written without spaces (Han, kana, Thai, Lao, Khmer,
           Myanmar) give one token per character; ASCII words longer than 3 characters are
           Porter-stemmed. On English text this equals rouge_score's default tokenizer
           with ``use_stemmer=True``.
chars      every letter or digit is a token (character-level ROUGE, usual for Korean and
           Chinese when word boundaries or particles blur word matches)
model      the model tokenizer's subword tokens, special tokens dropped
=========  ===============================================================================

A reference that tokenizes to nothing has no ROUGE: it is an error, never a silent 0.

Example:
    >>> scorer = rouge_scorer_for(rouge_tokenizer("words"))
    >>> scorer.score("회의는 월요일로 미뤄졌다", "회의는 월요일로 미뤄졌다")["rougeL"].fmeasure
    1.0
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from hpscout._errors import DataError
from hpscout._imports import try_import

__all__ = [
    "ROUGE_TOKENIZERS",
    "ROUGE_TYPES",
    "RougeTokenizer",
    "rouge_tokenizer",
    "rouge_scorer_for",
    "check_references",
]

#: the values of ``train.rouge_tokenizer``
ROUGE_TOKENIZERS = ("words", "chars", "model")
#: the ROUGE variants reported (``eval_rouge1``, ``eval_rouge2``, ``eval_rougeL``)
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# scripts written without spaces between words: one token per character
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-G
)


def _unspaced(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _UNSPACED)


def _split(text: str, *, per_char: bool) -> list[str]:
    """Letters/digits (with their combining marks) of ``text``; words, or single characters."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    word: list[str] = []
    after_char = False  # the previous character was a one-character token (marks join it)
    for ch in text:
        kind = unicodedata.category(ch)[0]
        if kind == "M":  # a combining mark belongs to the character before it
            if word:
                word.append(ch)
            elif after_char:
                tokens[-1] += ch
            continue
        after_char = False
        if kind not in ("L", "N"):
            if word:
                tokens.append("".join(word))
                word = []
            continue
        if per_char or _unspaced(ch):
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
            after_char = True
        else:
            word.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


class RougeTokenizer:
    """A ``rouge_score`` tokenizer (it calls ``tokenize(text) -> list[str]``) for ``train.rouge_tokenizer``.

    Args:
        mode: ``words``, ``chars`` or ``model`` (see the module docstring).
        model_tokenizer: the Hugging Face tokenizer, needed for ``model``.
    """

    def __init__(self, mode: str, model_tokenizer: Any = None) -> None:
        if mode not in ROUGE_TOKENIZERS:
            raise DataError(f"train.rouge_tokenizer must be one of {', '.join(ROUGE_TOKENIZERS)}, but got {mode!r}")
        if mode == "model" and model_tokenizer is None:
            raise DataError("train.rouge_tokenizer 'model' needs the model's tokenizer")
        self.mode = mode
        self._model = model_tokenizer
        self._stem: Callable[[str], str] | None = None
        self._special: set[str] = set(getattr(model_tokenizer, "all_special_tokens", []) or [])
        if mode == "words":
            # rouge_score depends on nltk; its default tokenizer stems with the same Porter stemmer
            porter = try_import("nltk.stem.porter", "seq2seq ROUGE metrics")
            self._stem = porter.PorterStemmer().stem

    def tokenize(self, text: str) -> list[str]:
        if self.mode == "model":
            return [t for t in self._model.tokenize(text) if t not in self._special]
        tokens = _split(text, per_char=self.mode == "chars")
        if self._stem is not None:
            stem = self._stem
            # rouge_score stems only words longer than 3 characters
            tokens = [stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]
        return tokens


def rouge_tokenizer(mode: str, model_tokenizer: Any = None) -> RougeTokenizer:
    """The tokenizer ROUGE uses for ``train.rouge_tokenizer = mode``."""
    return RougeTokenizer(mode, model_tokenizer)


def rouge_scorer_for(tokenizer: RougeTokenizer) -> Any:
    """A ``rouge_score.rouge_scorer.RougeScorer`` for ROUGE-1/2/L that splits text with ``tokenizer``."""
    rouge_scorer = try_import("rouge_score.rouge_scorer", "seq2seq ROUGE metrics")
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=tokenizer)


def check_references(references: list[str], tokenizer: RougeTokenizer, *, what: str = "eval") -> None:
    """Raise :class:`DataError` naming the first reference that tokenizes to nothing (ROUGE would be 0 for any output)."""
    for i, ref in enumerate(references):
        if not tokenizer.tokenize(ref):
            shown = ref if len(ref) <= 80 else ref[:77] + "..."
            raise DataError(
                f"ROUGE reference {i} of the {what} data tokenizes to nothing under train.rouge_tokenizer="
                f"{tokenizer.mode!r} (text after the model tokenizer's round trip: {shown!r}), so every output would "
                "score 0 on it; remove empty targets, or use a tokenizer that covers the text's script "
                f"(model.tokenizer, or train.rouge_tokenizer among {', '.join(m for m in ROUGE_TOKENIZERS if m != tokenizer.mode)})"
            )
