"""ROUGE for any script: hand-computed ROUGE-1/2/L on Korean, Japanese and English pairs, and loud empty references."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hpscout._errors import DataError
from hpscout.runner._rouge import check_references, rouge_scorer_for, rouge_tokenizer

pytest.importorskip("rouge_score")


def _f(scores: dict, kind: str) -> float:
    return scores[kind].fmeasure


def test_identical_korean_scores_one_in_every_mode():
    # the bug: rouge_score's default tokenizer drops Hangul, so identical Korean text scored 0
    from rouge_score import rouge_scorer

    text = "회의는 다음 주 월요일로 미뤄졌다"
    assert rouge_scorer.RougeScorer(["rougeL"]).score(text, text)["rougeL"].fmeasure == 0.0
    for mode in ("words", "chars"):
        scores = rouge_scorer_for(rouge_tokenizer(mode)).score(text, text)
        assert [_f(scores, k) for k in ("rouge1", "rouge2", "rougeL")] == [1.0, 1.0, 1.0], mode


def test_korean_words_hand_computed():
    # ref [회의는, 월요일로, 미뤄졌다], pred [회의는, 화요일로, 미뤄졌다]: 2 of 3 unigrams, no bigram, LCS 2
    scores = rouge_scorer_for(rouge_tokenizer("words")).score("회의는 월요일로 미뤄졌다.", "회의는 화요일로 미뤄졌다")
    assert _f(scores, "rouge1") == pytest.approx(2 / 3)
    assert _f(scores, "rouge2") == 0.0
    assert _f(scores, "rougeL") == pytest.approx(2 / 3)


def test_korean_chars_hand_computed():
    # 11 characters each, one differs (월 -> 화): unigrams 10/11, bigrams 8/10 (two contain it), LCS 10
    scores = rouge_scorer_for(rouge_tokenizer("chars")).score("회의는 월요일로 미뤄졌다", "회의는 화요일로 미뤄졌다")
    assert _f(scores, "rouge1") == pytest.approx(10 / 11)
    assert _f(scores, "rouge2") == pytest.approx(8 / 10)
    assert _f(scores, "rougeL") == pytest.approx(10 / 11)


def test_japanese_is_split_per_character_in_words_mode():
    tok = rouge_tokenizer("words")
    assert tok.tokenize("会議は月曜日に延期。") == ["会", "議", "は", "月", "曜", "日", "に", "延", "期"]
    # 9 characters each, 月 -> 火: unigrams 8/9, bigrams 6/8, LCS 8
    scores = rouge_scorer_for(tok).score("会議は月曜日に延期", "会議は火曜日に延期")
    assert _f(scores, "rouge1") == pytest.approx(8 / 9)
    assert _f(scores, "rouge2") == pytest.approx(6 / 8)
    assert _f(scores, "rougeL") == pytest.approx(8 / 9)


def test_english_hand_computed_and_equal_to_rouge_score_default():
    from rouge_score import rouge_scorer

    ref, pred = "The cats sat on the mat.", "the cat sat on a mat"
    # stemmed: ref [the cat sat on the mat], pred [the cat sat on a mat]; 5/6 unigrams, 3/5 bigrams, LCS 5
    scores = rouge_scorer_for(rouge_tokenizer("words")).score(ref, pred)
    assert _f(scores, "rouge1") == pytest.approx(5 / 6)
    assert _f(scores, "rouge2") == pytest.approx(3 / 5)
    assert _f(scores, "rougeL") == pytest.approx(5 / 6)
    default = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for r, p in [(ref, pred), ("Running faster didn't help_them in 2024!", "they were running fast in 2024")]:
        ours = rouge_scorer_for(rouge_tokenizer("words")).score(r, p)
        theirs = default.score(r, p)
        assert {k: _f(ours, k) for k in ours} == pytest.approx({k: _f(theirs, k) for k in theirs})


def test_mixed_script_and_combining_marks():
    tok = rouge_tokenizer("words")
    assert tok.tokenize("LoRA 학습은 GPU에서, 早い!") == ["lora", "학습은", "gpu에서", "早", "い"]
    assert tok.tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs stay inside the word
    assert rouge_tokenizer("chars").tokenize("ab 가!") == ["a", "b", "가"]


def test_model_mode_uses_the_model_tokenizer():
    class Tok:
        all_special_tokens = ["</s>"]

        def tokenize(self, text):
            return text.split("|")

    tok = rouge_tokenizer("model", Tok())
    assert tok.tokenize("회|의</s>|는|</s>") == ["회", "의</s>", "는"]
    with pytest.raises(DataError, match="needs the model's tokenizer"):
        rouge_tokenizer("model")


def test_empty_reference_fails_loudly():
    with pytest.raises(DataError, match="reference 1 of the eval data tokenizes to nothing.*'words'"):
        check_references(["좋다", "?!", "ok"], rouge_tokenizer("words"))


def test_rouge_metrics_raise_on_empty_reference_instead_of_zero():
    from hpscout.runner._tasks import make_rouge_metrics

    class Tok:
        pad_token_id = 0
        all_special_tokens = ["<pad>"]
        vocab = {1: "회의는", 2: "월요일", 3: "...", 0: "<pad>"}

        def batch_decode(self, rows, skip_special_tokens=True):
            return [" ".join(self.vocab[i] for i in row if i != 0) for row in rows]

    compute = make_rouge_metrics(Tok(), "words")
    good = compute(SimpleNamespace(predictions=np.array([[1, 2]]), label_ids=np.array([[1, 2]])))
    assert good == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    with pytest.raises(DataError, match="tokenizes to nothing"):
        compute(SimpleNamespace(predictions=np.array([[1, 2], [1, 2]]), label_ids=np.array([[1, 2], [3, -100]])))
