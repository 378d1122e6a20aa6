"""Distillation config validation, the weighted loss, the trainer and the student factories.

The single losses are tested in tests/test_distill_losses.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from compress.distill.kd import (
    DistillConfig,
    distill,
    distillation_loss,
    model_outputs,
    student_from_teacher,
    teacher_targets,
)
from compress.distill.losses import cosine_hidden_loss, soft_target_loss
from compress.measure.meters import pinned_threads
from fixtures.models.bert import TINY, random_classifier, synthetic_batch
from fixtures.recipes.digits import DigitsCNN
from fixtures.recipes.distill import (
    CNNRecipe,
    StudentCNN,
    TeacherCNN,
    digits_teacher,
    distilled_digits_student,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One thread per test: xdist runs several workers on few cores."""
    with pinned_threads(1):
        yield


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, float("nan"), float("inf"), True, "2"])
def test_temperature_must_be_positive(temperature) -> None:
    with pytest.raises(ValueError, match="temperature"):
        DistillConfig(temperature=temperature, kd_weight=1.0)


def test_all_weights_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="all loss weights are zero"):
        DistillConfig(ce_weight=0.0, kd_weight=0.0, cos_weight=0.0, mse_weight=0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kd_weight": -0.5},
        {"mse_weight": float("nan")},
        {"cos_weight": 1.0, "layer_map": ()},
        {"cos_weight": 1.0, "layer_map": ((1, 2, 3),)},
        {"cos_weight": 1.0, "layer_map": ((1.0, 2),)},
        {"epochs": 0},
        {"lr": 0.0},
        {"warmup_ratio": 1.0},
        {"max_grad_norm": -1.0},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_other_bad_configs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DistillConfig(**kwargs)


def test_different_label_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="teacher predicts 3 labels but the student 2"):
        soft_target_loss(torch.zeros(4, 2), torch.zeros(4, 3), 2.0)
    config = DistillConfig(kd_weight=1.0)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(
            config, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.zeros(4, 3)
        )


def test_distill_rejects_teacher_with_other_label_count() -> None:
    teacher = random_classifier(TINY, num_labels=3, seed=1)
    student = random_classifier(TINY, num_labels=2, seed=2)
    batch = {**synthetic_batch(TINY["vocab_size"], 4, 8), "labels": torch.tensor([0, 1, 0, 1])}
    with pytest.raises(ValueError, match="teacher predicts 3 labels but the student 2"):
        distill(
            student, DistillConfig(kd_weight=1.0), teacher=teacher, batches=[batch], progress=False
        )


def test_hidden_states_from_a_model_without_them() -> None:
    plain = DigitsCNN(width=1)  # forward(x) -> logits only
    batch = {"x": torch.rand(2, 1, 8, 8), "labels": torch.tensor([1, 2])}
    with pytest.raises(ValueError, match="DigitsCNN does not return hidden states"):
        model_outputs(plain, batch, hidden=True)
    config = DistillConfig(cos_weight=1.0, layer_map=((0, 0),))
    with pytest.raises(ValueError, match="does not return hidden states"):
        distill(plain, config, teacher=TeacherCNN(), batches=[batch], progress=False)
    with pytest.raises(ValueError, match="does not return hidden states"):
        distill(StudentCNN(), config, teacher=plain, batches=[batch], progress=False)


def test_hidden_states_missing_from_output() -> None:
    class Silent(nn.Module):
        def forward(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
            return x.flatten(1)[:, :3]

    with pytest.raises(ValueError, match="returned no hidden_states"):
        model_outputs(Silent(), {"x": torch.rand(2, 1, 8, 8)}, hidden=True)


# --- the weighted loss and config properties -------------------------------------------


def test_combined_loss_is_the_weighted_sum() -> None:
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    hs, ht = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    labels = torch.tensor([0, 2, 1, 1])
    config = DistillConfig(
        temperature=2.0, ce_weight=0.5, kd_weight=2.0, cos_weight=3.0, mse_weight=0.25,
        layer_map=((0, 1),),
    )  # fmt: skip
    reg = nn.Identity()
    total, parts = distillation_loss(config, s, labels, t, [hs], {1: ht}, regressors=[reg])
    ce = F.cross_entropy(s, labels).item()
    kd = soft_target_loss(s, t, 2.0).item()
    cos = (1 - F.cosine_similarity(hs, ht)).mean().item()
    mse = ((hs - ht) ** 2).mean().item()
    assert parts == pytest.approx({"ce": ce, "kd": kd, "cos": cos, "mse": mse}, rel=1e-5)
    assert total.item() == pytest.approx(0.5 * ce + 2 * kd + 3 * cos + 0.25 * mse, rel=1e-5)


def test_config_id_and_layers() -> None:
    config = DistillConfig(kd_weight=1, mse_weight=1, layer_map=((3, 6), (1, 2)))
    assert config.id == "ce+kd+mse"
    assert config.teacher_layers == (2, 6)
    assert DistillConfig(kd_weight=1).teacher_layers == ()
    assert DistillConfig(layer_map=[[1, 2]]).layer_map == ((1, 2),)


# --- trainer ---------------------------------------------------------------------------


def _toy_batches(n: int = 6, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        y = torch.randint(0, 10, (16,), generator=g)
        x = torch.rand(16, 1, 8, 8, generator=g) * 0.2
        x[torch.arange(16), 0, y % 8, y // 8 * 4] += 1.0  # one bright pixel per class
        out.append({"x": x, "labels": y})
    return out


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_distill_trains_a_copy_and_leaves_inputs_alone() -> None:
    torch.manual_seed(0)
    teacher, student = TeacherCNN().train(), StudentCNN()
    before_t, before_s = _state(teacher), _state(student)
    data = _toy_batches()
    config = DistillConfig(
        ce_weight=0.5, kd_weight=0.5, cos_weight=0.2, mse_weight=0.2, layer_map=((0, 0), (1, 1)),
        epochs=3, lr=3e-3, warmup_ratio=0.0,
    )  # fmt: skip
    trained = distill(student, config, teacher=teacher, batches=data, progress=False)
    assert trained is not student and not trained.training
    assert teacher.training  # its mode is restored
    for k, v in _state(teacher).items():
        assert torch.equal(v, before_t[k]), k
    for k, v in _state(student).items():
        assert torch.equal(v, before_s[k]), k
    assert all(p.grad is None for p in teacher.parameters())
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, before_s[k])]
    assert changed, "training changed nothing"
    loss = lambda m: sum(F.cross_entropy(m(b["x"]), b["labels"]).item() for b in data)  # noqa: E731
    with torch.no_grad():
        assert loss(trained) < loss(student.eval())


def test_distill_is_seeded() -> None:
    data = _toy_batches(3)
    teacher, student = TeacherCNN(), StudentCNN()
    targets = teacher_targets(teacher, data, progress=False)

    def run(seed: int) -> nn.Module:
        config = DistillConfig(kd_weight=1.0, epochs=2, seed=seed, lr=1e-3)
        return distill(
            student, config, teacher=teacher, batches=data, targets=targets, progress=False
        )

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_distill_checks_targets() -> None:
    data = _toy_batches(2)
    teacher = TeacherCNN()
    targets = teacher_targets(teacher, data[:1], progress=False)
    with pytest.raises(ValueError, match="1 teacher targets for 2 batches"):
        distill(
            StudentCNN(),
            DistillConfig(),
            teacher=teacher,
            batches=data,
            targets=targets,
            progress=False,
        )
    targets = teacher_targets(teacher, data, progress=False)
    hidden = DistillConfig(cos_weight=1.0, layer_map=((1, 1),))
    with pytest.raises(ValueError, match="lack hidden states"):
        distill(
            StudentCNN(), hidden, teacher=teacher, batches=data, targets=targets, progress=False
        )
    with pytest.raises(ValueError, match="at least one"):
        distill(StudentCNN(), DistillConfig(), teacher=teacher, batches=[], progress=False)


def test_frozen_parameters_stay_put() -> None:
    data = _toy_batches(2)
    student = StudentCNN()
    config = DistillConfig(epochs=1, lr=1e-2, frozen=("features.",))
    trained = distill(student, config, teacher=TeacherCNN(), batches=data, progress=False)
    assert torch.equal(trained.features[0].weight, student.features[0].weight)
    assert not torch.equal(trained.head.weight, student.head.weight)


def test_teacher_targets_keep_logits_and_requested_layers() -> None:
    teacher = random_classifier(TINY, seed=3)
    batch = {**synthetic_batch(TINY["vocab_size"], 2, 6), "labels": torch.tensor([0, 1])}
    targets = teacher_targets(teacher, [batch], layers=(2, 0), progress=False)
    assert targets.layers == (0, 2)
    with torch.no_grad():
        out = teacher(
            **{k: v for k, v in batch.items() if k != "labels"}, output_hidden_states=True
        )
    assert torch.allclose(targets.logits[0], out.logits)
    assert targets.hidden[0][2].dtype == torch.float16
    assert torch.allclose(targets.hidden[0][2].float(), out.hidden_states[2], atol=1e-2)


def test_bert_student_distils_with_hidden_losses() -> None:
    """Only the hidden-state losses on: they alone must train the student's encoder towards
    the teacher's mapped layer (padding masked), on a copy."""
    teacher = random_classifier({**TINY, "num_hidden_layers": 4}, seed=4)
    # a random student: one copied from the teacher's layers starts within 0.001 of its
    # layer 4 in cosine, too close for training to show
    student = random_classifier(TINY, seed=9)
    before = _state(student)
    ids = synthetic_batch(TINY["vocab_size"], 4, 10)
    ids["attention_mask"][:, 7:] = 0
    data = [{**ids, "labels": torch.tensor([0, 1, 1, 0])}]
    config = DistillConfig(
        ce_weight=0, cos_weight=1, mse_weight=1, layer_map=((2, 4),), epochs=4, lr=1e-3,
        warmup_ratio=0.0,
    )  # fmt: skip
    targets = teacher_targets(teacher, data, config.teacher_layers, progress=False)

    def cos_gap(model: nn.Module) -> float:
        """1 - cos between the student's last layer and the teacher's layer 4, unpadded."""
        with torch.no_grad():
            _, states = model_outputs(model, data[0], hidden=True)
        assert states is not None
        teacher_4 = targets.hidden[0][4].float()
        return cosine_hidden_loss(states[2], teacher_4, ids["attention_mask"]).item()

    trained = distill(
        student, config, teacher=teacher, batches=data, targets=targets, progress=False
    )
    assert trained.config.num_hidden_layers == 2
    for k, v in _state(student).items():
        assert torch.equal(v, before[k]), k
    last = "bert.encoder.layer.1.output.dense.weight"
    assert not torch.equal(trained.state_dict()[last], before[last])
    assert cos_gap(trained) < 0.85 * cos_gap(student)  # 0.92 -> 0.68 when written
    repadded = {**data[0], "input_ids": data[0]["input_ids"].clone()}
    repadded["input_ids"][:, 7:] = 3  # other tokens under the padding: neither seen nor scored
    again = distill(student, config, teacher=teacher, batches=[repadded], progress=False)
    for k, v in again.state_dict().items():
        assert torch.allclose(v, trained.state_dict()[k], atol=1e-6), k


# --- student factories -----------------------------------------------------------------


def test_student_from_teacher_copies_the_chosen_layers() -> None:
    teacher = random_classifier({**TINY, "num_hidden_layers": 4}, seed=5)
    before = _state(teacher)
    student = student_from_teacher(teacher, (0, 2))
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    t_layers, s_layers = teacher.bert.encoder.layer, student.bert.encoder.layer
    for s_i, t_i in ((0, 0), (1, 2)):
        for (name, p), (_, q) in zip(
            s_layers[s_i].named_parameters(), t_layers[t_i].named_parameters(), strict=True
        ):
            assert torch.equal(p, q), name
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    with torch.no_grad():
        student.classifier.weight.add_(1.0)  # a copy, not shared storage
    assert not torch.equal(student.classifier.weight, teacher.classifier.weight)


@pytest.mark.parametrize("layers", [(), (0, 0), (4,), (-1,)])
def test_student_from_teacher_rejects_bad_layers(layers: tuple[int, ...]) -> None:
    teacher = random_classifier({**TINY, "num_hidden_layers": 4}, seed=5)
    with pytest.raises(ValueError, match=r"distinct indices in 0\.\.3"):
        student_from_teacher(teacher, layers)


def test_cnn_hidden_states() -> None:
    x = torch.rand(3, 1, 8, 8)
    for model, (c, h) in ((TeacherCNN().eval(), (32, 512)), (StudentCNN().eval(), (16, 256))):
        logits, states = model_outputs(model, {"x": x}, hidden=True)
        assert logits.shape == (3, 10)
        assert states[0].shape == (3, c, 2, 2) and states[1].shape == (3, h)
        assert torch.equal(model(x), logits)


def test_distilled_digits_student_is_cached(tmp_path) -> None:
    recipe = CNNRecipe(epochs=1)
    config = DistillConfig(kd_weight=0.5, epochs=1)
    first = distilled_digits_student(config, recipe, root=tmp_path)
    entries = sorted(p.name for p in (tmp_path / "digits-kd").iterdir())
    assert len(entries) == 2  # the teacher and the student
    second = distilled_digits_student(config, recipe, root=tmp_path)
    assert sorted(p.name for p in (tmp_path / "digits-kd").iterdir()) == entries
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert isinstance(digits_teacher(recipe, root=tmp_path), TeacherCNN)
