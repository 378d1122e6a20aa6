"""What a deployment decision needs beyond the median latency: memory, tail latency, scaling.

- Peak memory: a fresh process loads the saved fp32 or int8 model and serves 5 forwards
  (measure.memory); the case records the process peak, the model's part of it (peak minus the
  same process before loading), and the int8/fp32 ratios. The reference text's "int8 is about
  four times smaller in memory" is checked by reading ``model_rss_ratio``; the gate only asks
  that int8 needs less than fp32, for the model part and for the whole process.
- Tail latency: p50/p90/p99 of single-stream (batch 1) latency of the MRPC classifier, fp32 and
  int8 interleaved in one process (TAIL_ROUNDS rounds each in the full profile).
- Scaling: the int8 speedup and both throughputs at batch 1, 8, 32 on one thread and on every
  core this process may use, for the MRPC classifier and a bert-base-sized model (the quick
  profile leaves out bert-base at batch 32).
Timed cases run serially (never under xdist); none shares a core with another timed case.
"""

from __future__ import annotations

import pytest
import torch

from compress.measure.memory import peak_memory
from compress.measure.meters import available_cores, percentiles
from compress.train.evaluate import forward_fn
from compress.verdict.gates import ALL_CORES_SPEED_TOLERANCE, SPEED_TOLERANCE
from compress.verdict.runner import timed_speedup
from fixtures.models.bert import synthetic_batch
from fixtures.plugins.pairs import Pair
from fixtures.plugins.settings import profile_of
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed

FORWARDS = 5  # forward passes the memory probe serves after loading
SEQ = 128  # tokens per example, as in the reference
TAIL_ROUNDS = 500  # paired rounds at batch 1 (full profile; quick: 0.4x): p99 from >= 300
BATCHES = (1, 8, 32)
PAIRS = ("minilm-l6-mrpc", "bert-base-random-init")


def _batch(pair: Pair, batch: int) -> dict[str, object]:
    """``batch`` examples of SEQ tokens for the pair's forward (keyword arguments)."""
    model = pair.fp32
    if hasattr(model, "init_hidden"):  # the word LM: (seq, batch) ids and a zero state
        tokens = torch.randint(
            model.config.ntoken, (SEQ, batch), generator=torch.Generator().manual_seed(0)
        )
        return {"tokens": tokens, "hidden": model.init_hidden(batch)}
    return synthetic_batch(model.config.vocab_size, batch, SEQ)


MEMORY_PAIRS = (*PAIRS, "lstm-word-lm", "char-bert-thucnews")
# Pairs whose int8 peak RSS is recorded but not gated: the word LM's fp32 embedding is most of
# its memory, and with AVX2 kernels its int8 peak equalled fp32's (docs/findings.md).
MEMORY_NOT_GATED = frozenset({"lstm-word-lm"})
# The process peak is gated only where the fp32 weights are at least this share of the process
# before loading them: the char-BERT's are about 4% of it (its peak ratio was 0.99 in CI's
# checkout and 1.005 in another, the model's RSS 53 MB and 16 MB of it); its model RSS ratio
# stays gated
PEAK_GATED_SHARE = 0.10


@pytest.mark.parametrize("pair", MEMORY_PAIRS, indirect=True)
def test_peak_memory(benchmark, new_case, request, pair: Pair) -> None:
    """Peak RSS of serving fp32 vs int8 from a fresh process; the row times the int8 probe."""
    inputs = _batch(pair, 1)
    fp32 = peak_memory(pair.fp32, inputs, forwards=FORWARDS, case=f"{pair.about} fp32")
    int8 = benchmark.pedantic(
        peak_memory,
        args=(pair.int8, inputs),
        kwargs={"forwards": FORWARDS, "case": f"{pair.about} int8"},
        rounds=1,
        iterations=1,
    )
    case = new_case(
        config={**pair.config, "forwards": FORWARDS},
        model={"about": pair.about},
        data={"input": "synthetic token ids", "batch": 1, "seq": SEQ},
    )
    # Absolute RSS depends on the environment (two virtualenvs with the same packages on one
    # machine differ: docs/findings.md), so it is shown, never compared between runs; the
    # int8/fp32 ratios of one run are gated (int8 must need less).
    case.report("process_baseline_bytes", int8.baseline_bytes, "bytes")
    case.report("process_peak_reference_bytes", fp32.peak_bytes, "bytes")
    case.report("process_peak_bytes", int8.peak_bytes, "bytes")
    case.report("model_rss_reference_bytes", fp32.model_bytes, "bytes")
    case.report("model_rss_bytes", int8.model_bytes, "bytes")
    case.report("state_reference_bytes", fp32.state_bytes, "bytes")
    budget = None if request.node.callspec.params["pair"] in MEMORY_NOT_GATED else 1.0
    ratio = int8.peak_bytes / fp32.peak_bytes
    small = fp32.state_bytes < PEAK_GATED_SHARE * fp32.baseline_bytes
    peak_budget = None if small else budget
    case.metric("process_peak_ratio", ratio, "ratio", "lower", budget=peak_budget)
    ratio = int8.model_bytes / fp32.model_bytes
    case.metric("model_rss_ratio", ratio, "ratio", "lower", budget=budget)
    case.report("state_bytes_ratio", int8.state_bytes / fp32.state_bytes, "ratio")
    case.finish(benchmark.extra_info)


def test_tail_latency(benchmark, new_case, min_speedup: float, profile: Profile, mrpc_classifier):
    """p50/p90/p99 at batch 1 on one thread, fp32 and int8 interleaved; gates the speedup."""
    clf = mrpc_classifier
    batch = synthetic_batch(clf.fp32.config.vocab_size, 1, SEQ)
    fp32, int8 = forward_fn(clf.fp32, batch), forward_fn(clf.int8, batch)
    case = new_case(
        config={**clf.quant_config.to_dict(), "threads": 1},
        model={"about": clf.model_about},
        data={"input": "synthetic token ids", "batch": 1, "seq": SEQ},
    )
    timed = {"reference": fp32, "compressed": int8, "rounds": profile.rounds(TAIL_ROUNDS)}
    speed = timed_speedup(case, benchmark, **timed, floor=min_speedup, warmup=5)
    tails = {
        "reference": percentiles(speed.baseline_s),
        "compressed": percentiles(speed.candidate_s),
    }
    for arm, values in tails.items():
        for p, seconds in values.items():
            case.report(f"{p}_{arm}_s", seconds, "s")
    p99 = tails["reference"]["p99"] / tails["compressed"]["p99"]
    case.metric("p99_speedup", p99, "x", "higher", 0.3, relative=True, budget=1.0)
    case.report("rounds", len(speed.baseline_s), "count")
    case.finish(benchmark.extra_info)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The scaling grid: every pair x batch x (1 thread, all cores), minus the batches the
    profile leaves out (the quick one skips bert-base at batch 32: minutes, no new insight)."""
    if metafunc.function.__name__ == "test_scaling":
        grid = profile_of(metafunc.config).scaling_batches
        params = [
            pytest.param(p, b, t, id=f"{p}-bs{b}-{'1thread' if t == '1' else 'allcores'}")
            for p in PAIRS
            for b in grid.get(p, BATCHES)
            for t in ("1", "all")
        ]
        metafunc.parametrize(("pair", "batch", "threads"), params, indirect=["pair"])


def test_scaling(benchmark, new_case, profile: Profile, pair: Pair, batch: int, threads: str):
    """Throughput of fp32 and int8 and the int8 speedup at one point of (batch, threads)."""
    n = 1 if threads == "1" else available_cores()
    inputs = _batch(pair, batch)
    fp32, int8 = forward_fn(pair.fp32, inputs), forward_fn(pair.int8, inputs)
    big = "bert-base" in pair.about
    rounds = profile.rounds(max(5, (24 if big else 80) // batch))
    case = new_case(
        config={**pair.config, "threads": n},
        model={"about": pair.about},
        data={"input": "synthetic token ids", "batch": batch, "seq": SEQ},
    )
    # int8 must not be slower at any point; the 1-thread floors of test_latency are stricter
    timed = {"reference": fp32, "compressed": int8, "rounds": rounds}
    tolerance = SPEED_TOLERANCE if n == 1 else ALL_CORES_SPEED_TOLERANCE
    speed = timed_speedup(case, benchmark, **timed, floor=1.0, warmup=1, threads=n,
                          tolerance=tolerance)  # fmt: skip
    case.report("throughput_reference", batch / speed.baseline.median, "ex/s")
    case.report("throughput", batch / speed.candidate.median, "ex/s")
    case.report("threads", n, "count")
    case.finish(benchmark.extra_info)
