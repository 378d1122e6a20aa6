"""fixtures.finetune's shared training pieces: the AdamW groups, the lr schedule, one step."""

from __future__ import annotations

import pytest
import torch
from tqdm.auto import tqdm

from fixtures.bert import TINY, random_classifier, synthetic_batch
from fixtures.finetune import FinetuneRecipe, adamw_with_warmup, training_step


def test_adamw_groups_exempt_biases_and_layernorm_weights() -> None:
    model = random_classifier(TINY)
    optimizer, _ = adamw_with_warmup(model, FinetuneRecipe(weight_decay=0.03), steps=4)
    decay, no_decay = optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.03 and no_decay["weight_decay"] == 0.0
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert "bert.embeddings.LayerNorm.weight" in exempt and "classifier.bias" in exempt
    assert all(n.endswith(("bias", "LayerNorm.weight")) for n in exempt)
    assert {names[id(p)] for p in decay["params"]} == set(names.values()) - exempt


def test_linear_warmup_then_linear_decay() -> None:
    model = torch.nn.Linear(2, 2)
    recipe = FinetuneRecipe(lr=1e-3, warmup_ratio=0.5)
    optimizer, schedule = adamw_with_warmup(model, recipe, steps=4)  # 2 warm-up steps
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.0, 5e-4, 1e-3, 5e-4, 0.0])


def test_training_step_updates_clears_and_reports() -> None:
    model = random_classifier(TINY).train()
    before = model.classifier.weight.detach().clone()
    optimizer, schedule = adamw_with_warmup(model, FinetuneRecipe(warmup_ratio=0.0), steps=2)
    batch = {**synthetic_batch(TINY["vocab_size"], 2, 5), "labels": torch.tensor([0, 1])}
    with tqdm(total=2, disable=False) as progress:
        training_step(model(**batch).loss, model, optimizer, schedule, progress, epoch=0)
        assert progress.n == 1 and progress.postfix.startswith("epoch=1, loss=")
    assert not torch.equal(model.classifier.weight, before)
    assert all(p.grad is None for p in model.parameters())
    assert schedule.last_epoch == 1
