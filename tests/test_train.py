"""compress.train.loop: the optimiser groups, both warm-up conventions, the loop and its hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.train.loop import OptimConfig, fit, optimizer_for, seeded, start
from fixtures.models.bert import TINY, random_classifier, synthetic_batch
from fixtures.recipes.finetune import FinetuneRecipe, bert_loop, optim_config


def test_bert_groups_exempt_biases_and_layernorm_weights() -> None:
    model = random_classifier(TINY)
    loop = bert_loop(model, FinetuneRecipe(weight_decay=0.03), 4)
    decay, no_decay = loop.optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.03 and no_decay["weight_decay"] == 0.0
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert "bert.embeddings.LayerNorm.weight" in exempt and "classifier.bias" in exempt
    assert all(n.endswith(("bias", "LayerNorm.weight")) for n in exempt)
    assert {names[id(p)] for p in decay["params"]} == set(names.values()) - exempt
    assert [id(p) for p in loop.clip] == [id(p) for p in model.parameters()]  # model order


def test_vectors_layernorm_rule_and_frozen_prefixes() -> None:
    model = random_classifier(TINY)
    config = OptimConfig(weight_decay=0.1, no_decay="vectors-layernorm")
    optimizer, _ = optimizer_for(model, config, 4, frozen=("bert.embeddings.word",))
    decay, exempt = optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() >= 2 and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert all(p.dim() < 2 or "LayerNorm" in names[id(p)] for p in exempt["params"])
    trained = {names[id(p)] for g in optimizer.param_groups for p in g["params"]}
    assert "bert.embeddings.word_embeddings.weight" not in trained


@pytest.mark.parametrize(
    ("warmup_from", "expected"),
    [(0, [0.0, 5e-4, 1e-3, 5e-4, 0.0]), (1, [5e-4, 1e-3, 1e-3, 5e-4, 0.0])],
)
def test_linear_warmup_then_linear_decay(warmup_from: int, expected: list[float]) -> None:
    config = OptimConfig(lr=1e-3, schedule="linear", warmup_ratio=0.5, warmup_from=warmup_from)
    optimizer, schedule = optimizer_for(nn.Linear(2, 2), config, 4)  # 2 warm-up steps
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx(expected)


def test_fit_steps_clips_clears_and_calls_hooks() -> None:
    model = random_classifier(TINY).train()
    before = model.classifier.weight.detach().clone()
    batch = {**synthetic_batch(TINY["vocab_size"], 2, 5), "labels": torch.tensor([0, 1])}
    seen: list[tuple[str, int]] = []
    loop = bert_loop(model, FinetuneRecipe(warmup_ratio=0.0), 3)
    fit(loop, lambda epoch: [batch, batch], lambda b: model(**b).loss, epochs=2, total=3,
        after_backward=lambda lp: seen.append(("backward", lp.step)),
        after_step=lambda lp, loss: seen.append(("step", lp.step)), progress=False)  # fmt: skip
    assert loop.step == 3 and seen[:2] == [("backward", 0), ("step", 1)] and len(seen) == 6
    assert not torch.equal(model.classifier.weight, before)
    assert all(p.grad is None for p in model.parameters())
    assert loop.schedule.last_epoch == 3


def test_non_finite_loss_stops_naming_the_step() -> None:
    model = nn.Linear(2, 1)
    loop = start(model, OptimConfig(kind="sgd", lr=0.1), 2)
    losses = iter([model(torch.ones(1, 2)).sum(), torch.tensor(float("nan"))])
    with pytest.raises(ValueError, match="the loss became nan at step 1"):
        fit(loop, lambda _: [0, 1], lambda _: next(losses), epochs=1, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "lion"}, "kind must be"),
        ({"lr": 0}, "lr must be"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"warmup_from": 2}, "warmup_from"),
        ({"max_grad_norm": 0}, "max_grad_norm"),
    ],
)
def test_bad_optim_config_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OptimConfig(**kwargs)


def test_seeded_is_reproducible_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.rand(3)
    with seeded(7):
        b = torch.rand(3)
    assert torch.equal(a, b) and torch.equal(torch.rand(1), expected_next)


def test_config_round_trips() -> None:
    config = optim_config(FinetuneRecipe())
    assert OptimConfig.from_dict(config.to_dict()) == config
