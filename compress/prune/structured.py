"""Structured pruning of BERT encoders: attention heads and FFN neurons, then physical removal.

Heads and FFN intermediate neurons are gated: a forward pre-hook multiplies the input of
``attention.output.dense`` (the concatenated head contexts) by a per-head gate, and the input
of ``output.dense`` (the GELU activations) by a per-neuron gate. A gate of 0 is exactly the
same as removing the unit, so ``compact`` (which slices Q/K/V rows and the output columns of
heads, the intermediate rows and output columns of neurons) gives the same logits as the
masked model, up to float rounding. transformers 5.x has no ``prune_heads`` any more; its BERT
attention infers the head count from the Q/K/V widths, so sliced layers run unchanged.

Scores: ``magnitude_scores`` (L2 norm of a unit's weights) here; gradient scores (movement,
first-order Taylor) accumulate on the gates during fine-tuning (``compress.prune.fine_prune``).
Units are ranked globally across layers; every layer keeps at least one head and one FFN
neuron (``select_masks``), and ``compact`` rejects a mask that empties a layer's attention or
FFN: removing a whole sub-layer is not supported.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn


def bert_layers(model: nn.Module) -> list[nn.Module]:
    """The encoder layers of a BERT-architecture model (``model.bert.encoder.layer``)."""
    base = getattr(model, "bert", model)
    try:
        return list(base.encoder.layer)
    except AttributeError:
        raise ValueError(
            f"{type(model).__name__} is not a BERT-architecture model (no encoder.layer)"
        ) from None


def _layer_dims(layer: nn.Module) -> tuple[int, int, int]:
    """(heads, head size, FFN neurons) of one layer as it is now."""
    attn = layer.attention.self
    head_size = attn.attention_head_size
    return attn.query.out_features // head_size, head_size, layer.intermediate.dense.out_features


@dataclass
class Masks:
    """Per-layer 0/1 float masks: ``heads[l]`` (heads of layer l), ``ffn[l]`` (neurons)."""

    heads: list[torch.Tensor]
    ffn: list[torch.Tensor]

    @classmethod
    def ones(cls, model: nn.Module) -> Masks:
        dims = [_layer_dims(layer) for layer in bert_layers(model)]
        return cls([torch.ones(h) for h, _, _ in dims], [torch.ones(f) for _, _, f in dims])

    def kept(self) -> dict[str, list[int]]:
        """Heads and neurons kept per layer."""
        return {
            "heads": [int(m.sum()) for m in self.heads],
            "ffn": [int(m.sum()) for m in self.ffn],
        }

    def to_dict(self) -> dict[str, list[list[int]]]:
        return {
            "heads": [m.int().tolist() for m in self.heads],
            "ffn": [m.int().tolist() for m in self.ffn],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, list[list[int]]]) -> Masks:
        return cls(
            [torch.tensor(m, dtype=torch.float32) for m in data["heads"]],
            [torch.tensor(m, dtype=torch.float32) for m in data["ffn"]],
        )


class Gates:
    """Forward pre-hooks gating heads and FFN neurons of every layer of ``model`` (in place).

    ``gates.heads[l]`` / ``gates.ffn[l]`` are leaf tensors (``requires_grad`` when
    ``track_grad``) so backward leaves dL/dgate in their ``.grad``. Use as a context manager;
    leaving it removes the hooks.
    """

    def __init__(self, model: nn.Module, masks: Masks, track_grad: bool = False) -> None:
        self.layers = bert_layers(model)
        if len(masks.heads) != len(self.layers) or len(masks.ffn) != len(self.layers):
            raise ValueError(f"masks cover {len(masks.heads)} layers, model has {len(self.layers)}")
        self.heads = [m.clone().float().requires_grad_(track_grad) for m in masks.heads]
        self.ffn = [m.clone().float().requires_grad_(track_grad) for m in masks.ffn]
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        for i, layer in enumerate(self.layers):
            heads, head_size, neurons = _layer_dims(layer)
            if self.heads[i].shape != (heads,) or self.ffn[i].shape != (neurons,):
                raise ValueError(
                    f"layer {i}: mask shapes {tuple(self.heads[i].shape)}/"
                    f"{tuple(self.ffn[i].shape)}, expected ({heads},)/({neurons},)"
                )
            self.handles.append(
                layer.attention.output.dense.register_forward_pre_hook(
                    self._hook(self.heads, i, head_size)
                )
            )
            self.handles.append(
                layer.output.dense.register_forward_pre_hook(self._hook(self.ffn, i, 1))
            )

    @staticmethod
    def _hook(gates: list[torch.Tensor], i: int, width: int) -> Callable:
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            gate = gates[i].repeat_interleave(width) if width > 1 else gates[i]
            return (args[0] * gate, *args[1:])

        return hook

    def set(self, masks: Masks) -> None:
        """Overwrite the gate values with ``masks`` (keeps the leaf tensors and their grads)."""
        with torch.no_grad():
            for gate, mask in zip(self.heads + self.ffn, masks.heads + masks.ffn, strict=True):
                gate.copy_(mask)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def __enter__(self) -> Gates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def magnitude_scores(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """L2 norm of each head's Q/K/V rows + output columns, and each neuron's row + column."""
    heads, ffn = [], []
    with torch.no_grad():
        for layer in bert_layers(model):
            n_heads, size, _ = _layer_dims(layer)
            attn = layer.attention.self
            sq = sum(
                lin.weight.pow(2).sum(1).view(n_heads, size).sum(1)
                for lin in (attn.query, attn.key, attn.value)
            )
            out = layer.attention.output.dense.weight.pow(2).sum(0).view(n_heads, size).sum(1)
            heads.append((sq + out).sqrt())
            inter = layer.intermediate.dense.weight.pow(2).sum(1)
            ffn.append((inter + layer.output.dense.weight.pow(2).sum(0)).sqrt())
    return heads, ffn


def _keep_top(scores: list[torch.Tensor], sparsity: float, minimum: int) -> list[torch.Tensor]:
    """Masks keeping the globally best-scored units, at least ``minimum`` per layer."""
    total = sum(s.numel() for s in scores)
    keep = max(total - round(sparsity * total), minimum * len(scores))
    masks = [torch.zeros(s.numel()) for s in scores]
    for mask, s in zip(masks, scores, strict=True):  # the guaranteed minimum per layer
        mask[torch.topk(s, min(minimum, s.numel())).indices] = 1.0
    flat = torch.cat([s.float() for s in scores])
    taken = torch.cat(masks).bool()
    flat[taken] = -math.inf
    extra = keep - int(taken.sum())
    if extra > 0:
        chosen = torch.topk(flat, extra).indices
        offsets = torch.tensor([0] + [s.numel() for s in scores]).cumsum(0)
        for idx in chosen.tolist():
            layer = int(torch.searchsorted(offsets, idx, right=True)) - 1
            masks[layer][idx - offsets[layer]] = 1.0
    return masks


def select_masks(
    head_scores: list[torch.Tensor],
    ffn_scores: list[torch.Tensor],
    head_sparsity: float,
    ffn_sparsity: float,
    min_heads: int = 1,
    min_neurons: int = 1,
) -> Masks:
    """Keep the best units globally: ``round(sparsity * total)`` removed, minimum per layer.

    The per-layer minimum wins over the target: asking for every head removed keeps
    ``min_heads`` per layer.
    """
    for name, value in (("head_sparsity", head_sparsity), ("ffn_sparsity", ffn_sparsity)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if min_heads < 1 or min_neurons < 1:
        raise ValueError("every layer must keep at least one head and one FFN neuron")
    return Masks(
        _keep_top(head_scores, head_sparsity, min_heads),
        _keep_top(ffn_scores, ffn_sparsity, min_neurons),
    )


def expand(full: nn.Module, small: nn.Module, masks: Masks) -> nn.Module:
    """A full-shape copy of ``full`` holding ``small``'s weights in the units ``masks`` keep.

    Inverse of ``compact`` for the kept units: ``compact(expand(full, small, m), m)`` has
    ``small``'s weights; removed units keep ``full``'s weights (masked, they do not count).
    """
    out = copy.deepcopy(full).eval()
    big_state = out.state_dict()
    small_state = small.state_dict()
    index: dict[str, tuple[torch.Tensor, int]] = {}
    for i, layer in enumerate(bert_layers(out)):
        _, size, _ = _layer_dims(layer)
        heads = masks.heads[i].nonzero().flatten()
        rows = (heads[:, None] * size + torch.arange(size)).flatten()
        keep = masks.ffn[i].nonzero().flatten()
        prefix = next(n for n, m in out.named_modules() if m is layer)
        for name, idx, dim in (
            ("attention.self.query", rows, 0),
            ("attention.self.key", rows, 0),
            ("attention.self.value", rows, 0),
            ("attention.output.dense", rows, 1),
            ("intermediate.dense", keep, 0),
            ("output.dense", keep, 1),
        ):
            index[f"{prefix}.{name}.weight"] = (idx, dim)
            if dim == 0:
                index[f"{prefix}.{name}.bias"] = (idx, 0)
    with torch.no_grad():
        for key, value in small_state.items():
            if key in index:
                idx, dim = index[key]
                big_state[key].index_copy_(dim, idx, value)
            else:
                big_state[key].copy_(value)
    return out


def _slice_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear keeping ``index`` along ``dim`` of the weight (0: rows/outputs, 1: inputs)."""
    weight = linear.weight.detach().index_select(dim, index).clone()
    bias = linear.bias
    if bias is not None and dim == 0:
        bias = bias.detach()[index].clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new


def compact(model: nn.Module, masks: Masks) -> nn.Module:
    """A smaller dense copy of ``model`` with masked heads and FFN neurons physically removed.

    Q/K/V lose the rows of removed heads and ``attention.output.dense`` their columns;
    ``intermediate.dense`` loses rows and ``output.dense`` columns of removed neurons. Raises
    ValueError if a layer would keep no head or no neuron (not supported: keep >= 1).
    """
    out = copy.deepcopy(model).eval()
    layers = bert_layers(out)
    if len(masks.heads) != len(layers) or len(masks.ffn) != len(layers):
        raise ValueError(f"masks cover {len(masks.heads)} layers, model has {len(layers)}")
    for i, layer in enumerate(layers):
        n_heads, size, neurons = _layer_dims(layer)
        hm, fm = masks.heads[i], masks.ffn[i]
        if hm.shape != (n_heads,) or fm.shape != (neurons,):
            raise ValueError(
                f"layer {i}: mask shapes {tuple(hm.shape)}/{tuple(fm.shape)}, "
                f"expected ({n_heads},)/({neurons},)"
            )
        if not bool(((hm == 0) | (hm == 1)).all() and ((fm == 0) | (fm == 1)).all()):
            raise ValueError(f"layer {i}: masks must hold only 0 and 1")
        if hm.sum() < 1 or fm.sum() < 1:
            raise ValueError(
                f"layer {i} would keep {int(hm.sum())} heads and {int(fm.sum())} FFN neurons; "
                "every layer must keep at least one of each (removing a whole attention block "
                "or FFN is not supported)"
            )
        heads = hm.nonzero().flatten()
        rows = (heads[:, None] * size + torch.arange(size)).flatten()
        attn = layer.attention.self
        attn.query = _slice_linear(attn.query, rows, 0)
        attn.key = _slice_linear(attn.key, rows, 0)
        attn.value = _slice_linear(attn.value, rows, 0)
        attn.num_attention_heads = len(heads)
        attn.all_head_size = len(rows)
        layer.attention.output.dense = _slice_linear(layer.attention.output.dense, rows, 1)
        keep = fm.nonzero().flatten()
        layer.intermediate.dense = _slice_linear(layer.intermediate.dense, keep, 0)
        layer.output.dense = _slice_linear(layer.output.dense, keep, 1)
    return out


def expected_parameters(model: nn.Module, masks: Masks) -> int:
    """Parameters ``compact(model, masks)`` must have, computed from the masks alone."""
    total = sum(p.numel() for p in model.parameters())
    for layer, hm, fm in zip(bert_layers(model), masks.heads, masks.ffn, strict=True):
        hidden = layer.attention.output.dense.out_features
        _, size, _ = _layer_dims(layer)
        removed_heads = int((hm == 0).sum())
        removed_neurons = int((fm == 0).sum())
        total -= removed_heads * size * (3 * hidden + 3 + hidden)  # Q/K/V rows+biases, O cols
        total -= removed_neurons * (hidden + 1 + hidden)  # intermediate row+bias, output col
    return total


def shape_report(before: nn.Module, after: nn.Module) -> list[dict[str, object]]:
    """Per-layer rows: heads, and weight shapes of Q, attention output, intermediate, output."""
    rows = []
    for i, (a, b) in enumerate(zip(bert_layers(before), bert_layers(after), strict=True)):
        for label, get in _SHAPE_FIELDS.items():
            rows.append(
                {"layer": i, "weight": label, "before": _shape(get(a)), "after": _shape(get(b))}
            )
    return rows


def _shape(value: object) -> object:
    return list(value.weight.shape) if isinstance(value, nn.Linear) else value


_SHAPE_FIELDS: dict[str, Callable[[nn.Module], object]] = {
    "heads": lambda layer: _layer_dims(layer)[0],
    "attention.self.query": lambda layer: layer.attention.self.query,
    "attention.output.dense": lambda layer: layer.attention.output.dense,
    "intermediate.dense": lambda layer: layer.intermediate.dense,
    "output.dense": lambda layer: layer.output.dense,
}


def iter_kept(masks: Masks) -> Iterator[tuple[int, int, int]]:
    """(layer, heads kept, neurons kept) for each layer."""
    for i, (hm, fm) in enumerate(zip(masks.heads, masks.ffn, strict=True)):
        yield i, int(hm.sum()), int(fm.sum())
