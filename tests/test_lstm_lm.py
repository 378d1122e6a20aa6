"""Unit tests for the word_language_model LSTM LM: shapes, evaluation, cache, int8 (tiny sizes)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from compress.core.errors import InputError
from compress.core.torch_ao import nnqd
from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic
from fixtures.data.wikitext import WikiText2, read_wikitext2
from fixtures.recipes import lstm_lm
from fixtures.recipes.lstm_lm import LMConfig, LMRecipe, RNNModel, evaluate_lm, load_lm, trained_lm

TINY = LMConfig(ntoken=11, ninp=6, nhid=5, nlayers=2, dropout=0.1)
TINY_RECIPE = LMRecipe(ninp=6, nhid=5, nlayers=1, epochs=2, lr=1.0, bptt=3, batch_size=2)


def tiny_model(config: LMConfig = TINY) -> RNNModel:
    torch.manual_seed(0)
    return RNNModel(config).eval()


def corpus(root: Path, valid: str = " a b c a b \n b c d \n", test: str = " a c \n") -> WikiText2:
    root.mkdir(parents=True, exist_ok=True)
    (root / "valid.txt").write_text(valid, encoding="utf-8")
    (root / "test.txt").write_text(test, encoding="utf-8")
    return read_wikitext2(root)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ntoken": 0}, "ntoken must be >= 1"),
        ({"nlayers": 0}, "nlayers must be >= 1"),
        ({"dropout": 1.0}, "dropout"),
        ({"tie_weights": True}, "nhid == ninp"),
    ],
)
def test_config_validation(kwargs: dict, match: str) -> None:
    fields = {"ntoken": 11, "ninp": 6, "nhid": 5, "nlayers": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        LMConfig(**fields)


def test_forward_shapes_and_tied_weights() -> None:
    model = tiny_model()
    hidden = model.init_hidden(3)
    assert [h.shape for h in hidden] == [torch.Size([2, 3, 5])] * 2
    logits, (h, c) = model(torch.randint(0, 11, (4, 3)), hidden)
    assert logits.shape == (4, 3, 11) and h.shape == c.shape == (2, 3, 5)
    tied = RNNModel(LMConfig(11, 5, 5, 1, tie_weights=True))
    assert tied.decoder.weight is tied.encoder.weight


def test_evaluate_uniform_logits_is_log_vocab() -> None:
    model = tiny_model()
    torch.nn.init.zeros_(model.decoder.weight)  # logits all 0: CE = log(ntoken) per token
    data = torch.randint(0, 11, (40,))
    loss, ppl = evaluate_lm(model, data, bptt=3, batch_size=2)
    assert loss == pytest.approx(math.log(11), rel=1e-6)
    assert ppl == pytest.approx(11, rel=1e-6)


def test_evaluate_carries_state_across_windows() -> None:
    model, data = tiny_model(), torch.randint(0, 11, (61,))
    loss, ppl = evaluate_lm(model, data, bptt=4, batch_size=3)
    whole, _ = evaluate_lm(model, data, bptt=1000, batch_size=3)  # one window, no cut
    assert math.isfinite(loss) and ppl == pytest.approx(math.exp(loss))
    assert loss == pytest.approx(whole, rel=1e-5)
    partial, _ = evaluate_lm(model, data, bptt=4, batch_size=3, max_windows=2)
    assert math.isfinite(partial) and partial != loss


def test_trained_lm_caches_and_learns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = corpus(tmp_path / "wt2", valid=" a b c \n" * 30)
    first = trained_lm(TINY_RECIPE, data, threads=1, root=tmp_path / "cache")
    assert first.model.config.ntoken == len(data.dictionary) == 4
    assert first.train_seconds > 0 and "trained from scratch" in first.about
    loss, _ = evaluate_lm(first.model, data.train, bptt=3, batch_size=2)
    assert loss < math.log(4)  # better than uniform on its own training text

    def no_training(*args: object) -> None:
        raise AssertionError("cached model was retrained")

    monkeypatch.setattr(lstm_lm, "_train", no_training)
    again = trained_lm(TINY_RECIPE, data, threads=1, root=tmp_path / "cache")
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name


def test_other_vocabulary_is_rejected(tmp_path: Path) -> None:
    data = corpus(tmp_path / "a")
    trained_lm(TINY_RECIPE, data, threads=1, root=tmp_path / "cache")
    (entry,) = (tmp_path / "cache" / "lstm-lm").iterdir()
    bigger = corpus(tmp_path / "b", test=" a c e f \n")
    with pytest.raises(InputError, match=r"vocab.txt: .*saved with 5 words, the corpus has 7"):
        load_lm(entry, TINY_RECIPE, bigger)
    same_size = corpus(tmp_path / "c", valid=" b a c a b \n b c d \n")
    with pytest.raises(InputError, match=r"with 5 words, the corpus has 5 \(same size, other ids"):
        load_lm(entry, TINY_RECIPE, same_size)


def test_dynamic_int8_replaces_lstm_and_linear() -> None:
    model = tiny_model()
    int8 = quantize_dynamic(model, DynamicQuantConfig(module_types=("LSTM", "Linear")))
    assert isinstance(int8.rnn, nnqd.LSTM) and isinstance(int8.decoder, nnqd.Linear)
    assert type(model.rnn) is torch.nn.LSTM and type(model.decoder) is torch.nn.Linear
    data = torch.randint(0, 11, (40,))
    loss32, _ = evaluate_lm(model, data, bptt=5, batch_size=2)
    loss8, ppl8 = evaluate_lm(int8, data, bptt=5, batch_size=2)
    assert math.isfinite(loss8) and ppl8 == pytest.approx(math.exp(loss8))
    assert loss8 == pytest.approx(loss32, abs=0.05)
