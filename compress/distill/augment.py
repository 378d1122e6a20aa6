"""Data augmentation for distillation (TinyBERT, Jiao et al. 2020, section 3.1 "data
augmentation"): more training text, labelled by the teacher.

Each copy of a sentence replaces every replaceable word, with probability ``replace_prob``, by
one of its ``neighbours`` nearest words. TinyBERT takes candidates from BERT's masked-LM head
(single-piece words) and GloVe (others); the models here ship no masked-LM head, so the
candidates are the nearest whole-word vocabulary entries by cosine similarity of the model's
own input word embeddings (:func:`word_neighbours`). In a sentence pair a word gets the same
replacement in both sentences by default (``same_in_pair``): TinyBERT's per-sentence rule
turned many MRPC paraphrases into non-paraphrases and did not help there (docs/findings.md,
distillation). The augmented examples carry no gold label: they are marked :data:`UNLABELED`
and the teacher labels them (:func:`compress.distill.kd.fill_teacher_labels`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.nn import functional as F

from compress.core.config import config_from_dict

UNLABELED = -1  # label of an augmented example until the teacher labels it
WORD = re.compile(r"[a-z]{2,}")  # replaceable: a whole vocabulary entry of 2+ ascii letters


@dataclass(frozen=True)
class AugmentConfig:
    """How many augmented copies of each example, and how much of each copy changes."""

    copies: int = 4  # augmented copies per training example (TinyBERT: 20)
    replace_prob: float = 0.4  # chance that each replaceable word is replaced (TinyBERT: 0.4)
    neighbours: int = 15  # candidates per word, drawn uniformly (TinyBERT: 15)
    # pairs: replace a word by the same candidate in both sentences, so that the words a pair
    # shares stay shared (what paraphrase labels hinge on); False: each sentence on its own
    same_in_pair: bool = True
    seed: int = 0  # which words are replaced, and by which candidate

    def __post_init__(self) -> None:
        if isinstance(self.copies, bool) or not isinstance(self.copies, int) or self.copies < 1:
            raise ValueError(f"copies must be an int >= 1, got {self.copies!r}")
        if not 0 < self.replace_prob <= 1:
            raise ValueError(f"replace_prob must be in (0, 1], got {self.replace_prob!r}")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours!r}")

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (part of a distilled model's cache key)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ())


def word_neighbours(
    vocab: Mapping[str, int], embeddings: torch.Tensor, k: int, *, chunk: int = 2048
) -> dict[str, tuple[str, ...]]:
    """For every whole-word entry of ``vocab`` (token -> row of ``embeddings``), its ``k``
    nearest other whole-word entries by cosine similarity, nearest first."""
    words = sorted(w for w in vocab if WORD.fullmatch(w))
    if len(words) <= k:
        raise ValueError(f"need more than {k} whole-word vocabulary entries, found {len(words)}")
    rows = torch.tensor([vocab[w] for w in words])
    if int(rows.max()) >= embeddings.shape[0]:
        raise ValueError(
            f"vocabulary ids reach {int(rows.max())} but the embedding matrix has "
            f"{embeddings.shape[0]} rows: tokenizer and model do not match"
        )
    unit = F.normalize(embeddings.detach().float()[rows], dim=1)
    nearest = []
    for start in range(0, len(words), chunk):
        sim = unit[start : start + chunk] @ unit.T
        n = sim.shape[0]
        sim[torch.arange(n), torch.arange(start, start + n)] = -2.0  # never the word itself
        nearest.append(sim.topk(k, dim=1).indices)
    rows_of = torch.cat(nearest).tolist()
    return {w: tuple(words[j] for j in row) for w, row in zip(words, rows_of, strict=True)}


def _substitutions(
    texts: Sequence[str],
    table: Mapping[str, Sequence[str]],
    config: AugmentConfig,
    rng: random.Random,
) -> dict[str, str]:
    """Lowercase word -> its replacement, for each distinct word of ``texts`` (in order)."""
    chosen: dict[str, str] = {}
    for word in dict.fromkeys(w.lower() for text in texts for w in text.split()):
        candidates = table.get(word, ())[: config.neighbours]
        if candidates and rng.random() < config.replace_prob:
            chosen[word] = rng.choice(candidates)
    return chosen


def _replace(
    text: str, table: Mapping[str, Sequence[str]], config: AugmentConfig, rng: random.Random
) -> str:
    out = []
    for word in text.split():
        candidates = table.get(word.lower(), ())[: config.neighbours]
        replace = candidates and rng.random() < config.replace_prob
        out.append(rng.choice(candidates) if replace else word)
    return " ".join(out)


def _apply(text: str, chosen: Mapping[str, str]) -> str:
    return " ".join(chosen.get(w.lower(), w) for w in text.split())


def augment_texts(
    first: Sequence[str],
    second: Sequence[str] | None,
    table: Mapping[str, Sequence[str]],
    config: AugmentConfig,
) -> tuple[list[str], list[str] | None]:
    """``config.copies`` augmented copies of every text or pair, copy by copy: copy 1 of
    every example, then copy 2, and so on. In a pair, ``config.same_in_pair`` gives a word
    the same replacement in both sentences; otherwise each occurrence is drawn on its own.

    Words are split on whitespace; a word is replaceable if its lowercase form is in
    ``table`` (punctuation attached to a word makes it non-replaceable).
    """
    if second is not None and len(second) != len(first):
        raise ValueError(f"{len(first)} first sentences but {len(second)} second sentences")
    rng = random.Random(config.seed)
    new_first: list[str] = []
    new_second: list[str] | None = None if second is None else []
    for _ in range(config.copies):
        for i, text in enumerate(first):
            if new_second is None or second is None:
                new_first.append(_replace(text, table, config, rng))
            elif config.same_in_pair:
                chosen = _substitutions((text, second[i]), table, config, rng)
                new_first.append(_apply(text, chosen))
                new_second.append(_apply(second[i], chosen))
            else:
                new_first.append(_replace(text, table, config, rng))
                new_second.append(_replace(second[i], table, config, rng))
    return new_first, new_second
