"""methods.suite and fixtures.recipes.declared: a declared suite file is read, checked, and every
defect is one line naming the file and the key (or the data file and its line)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from compress.core.errors import InputError
from compress.methods.suite import load_suite
from fixtures.recipes import declared
from fixtures.recipes.declared import check_suite
from fixtures.store.sources import OFFLINE_VARS

WORDS = [f"w{i}" for i in range(200)]


def make_model(out: Path, num_labels: int = 3) -> Path:
    """A tiny random-init BERT classifier and its tokenizer, saved with save_pretrained."""
    from transformers import BertTokenizerFast

    from fixtures.models.bert import TINY, random_classifier

    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    random_classifier(TINY, num_labels=num_labels).save_pretrained(out)
    return out


def make_tsv(
    path: Path,
    rows: int = 40,
    num_labels: int = 3,
    seed: int = 0,
    *,
    label: str = "label",
    value=None,
    words: int = 20,
) -> Path:
    """A labelled pair file (columns sentence, other, ``label``); ``value(rng)`` the label's
    text (default a class id below ``num_labels``), sentences of 3 to ``words`` words."""
    rng = random.Random(seed)
    lines = [f"sentence\tother\t{label}"]
    for _ in range(rows):
        a, b = (" ".join(rng.choices(WORDS, k=rng.randint(3, words))) for _ in range(2))
        lines.append(f"{a}\t{b}\t{value(rng) if value else rng.randrange(num_labels)}")
    path.write_text("\n".join(lines) + "\n")
    return path


SUITE = """
[models.tiny]
path = "tiny"
metric = "macro_f1"
eval = { file = "eval.tsv", text = "sentence", text_pair = "other", label = "label" }
calibration = "eval.tsv"
batch_sizes = [4, 1]
methods = ["torch-dynamic"]
[models.tiny.budgets]
quality_drop_pts = 50
min_speedup = 0.1
min_agreement = 0.3
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A folder with the tiny model (tiny/), eval.tsv and suite.toml."""
    root = tmp_path_factory.mktemp("suite")
    make_model(root / "tiny")
    make_tsv(root / "eval.tsv")
    (root / "suite.toml").write_text(SUITE)
    return root


def test_a_suite_file_is_read_with_paths_relative_to_it(tiny: Path) -> None:
    suite = load_suite(tiny / "suite.toml")
    (model,) = suite.models
    assert model.path == str(tiny / "tiny") and model.eval.file == str(tiny / "eval.tsv")
    assert model.calibration is not None and model.calibration.text_pair == "other"
    assert model.calibration.label == "label"  # a bare file takes the eval file's columns
    assert model.batch_sizes == (1, 4) and model.score_name == "f1_macro"
    assert model.budgets.min_speedup == 0.1
    check_suite(suite)


def test_defaults_variables_and_pyproject(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TINY_DIR", str(tiny))
    (tmp_path / "pyproject.toml").write_text(
        "[tool.compress-bench.defaults]\nmetric = 'accuracy'\n"
        "[tool.compress-bench.models.a]\npath = '${TINY_DIR}/tiny'\n"
        "eval = { file = '${TINY_DIR}/eval.tsv', text = 'sentence' }\n"
    )
    (model,) = load_suite(tmp_path / "pyproject.toml").models
    assert model.metric == "accuracy" and model.path == str(tiny / "tiny")
    # no calibration or train file declared: the default methods that need neither
    assert model.methods == ("torch-dynamic", "ort-dynamic-per-channel",
                             "compiled-torchao-int8-dynamic")  # fmt: skip


def _error(tiny: Path, text: str) -> str:
    path = tiny / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        check_suite(load_suite(path))
    message = str(err.value)
    assert "\n" not in message
    return message


BAD_SUITES = [
    (SUITE.replace('metric = "macro_f1"', 'colour = "red"'), "models.tiny.colour: unknown key"),
    (SUITE.replace('path = "tiny"\n', ""), "models.tiny.path: missing"),
    (SUITE.replace('"tiny"', '"nowhere"'), "nowhere: no such directory"),
    (SUITE.replace('"macro_f1"', '"f2"'), "models.tiny.metric: expected one of"),
    (SUITE.replace("quality_drop_pts = 50", "quality_drop_pts = 0"), "quality_drop_pts: expected"),
    (SUITE.replace("min_speedup = 0.1", "min_speedup = -1"), "min_speedup: expected a number > 0"),
    (SUITE + SUITE.split("[models.tiny.budgets]")[0], "twice"),  # one name twice: TOML's error
    (SUITE.replace('"torch-dynamic"', '"int3"'), "models.tiny.methods: unknown method"),
    (
        SUITE.replace('calibration = "eval.tsv"\n', "").replace(
            '"torch-dynamic"', '"torch-static-percentile"'
        ),
        "needs a calibration file",
    ),
    (SUITE.replace('"torch-dynamic"', '"fine-pruned"'), "fine-pruned needs a train file"),
    (SUITE.replace('label = "label"', 'label = "gold"'), "eval.tsv:1: no column 'gold'"),
    (SUITE.replace("batch_sizes = [4, 1]", "batch_sizes = [0]"), "batch_sizes: expected"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SUITES)
def test_a_bad_suite_file_is_one_line_naming_file_and_key(
    tiny: Path, text: str, expected: str
) -> None:
    message = _error(tiny, text)
    assert expected in message and "bad.toml" in message


@pytest.mark.parametrize("offline_var", [None, "1"], ids=["online", "offline"])
@pytest.mark.parametrize("reachable", [True, False], ids=["hub-answers", "hub-silent"])
def test_a_path_is_a_directory_and_only_org_name_may_be_a_hub_id(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, offline_var: str | None, reachable: bool
) -> None:
    """A bare name is a directory beside the suite file, whatever the hub and the offline
    switches say; ``org/name`` is a hub id while the hub answers (docs/suite.md)."""
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    if offline_var is not None:
        monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", offline_var)
    hub = reachable and offline_var is None  # sources.hub_reachable: never when offline
    monkeypatch.setattr(declared, "hub_reachable", lambda: hub)
    message = _error(tiny, SUITE.replace('"tiny"', '"nowhere"'))
    assert message.endswith(f"models.tiny.path: {tiny / 'nowhere'}: no such directory")
    text = SUITE.replace('"tiny"', '"org/nowhere"')
    if not hub:
        why = "off: offline mode" if offline_var else "unreachable"
        detail = f"org/nowhere: no such directory (a hub id, but the hub is {why})"
        assert _error(tiny, text).endswith(f"models.tiny.path: {detail}")
        return
    (tiny / "hub.toml").write_text(text)
    suite = load_suite(tiny / "hub.toml")
    assert suite.models[0].path == "org/nowhere"  # kept as written: the hub's to load
    check_suite(suite)  # the files beside it are still read and checked


def test_a_model_directory_needs_weights_and_a_tokenizer(tiny: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((tiny / "tiny" / "config.json").read_text())
    text = SUITE.replace('"tiny"', f'"{partial}"').replace('"eval.tsv"', f'"{tiny}/eval.tsv"')
    assert "has no weights" in _error(tmp_path, text)
    (partial / "model.safetensors").write_bytes((tiny / "tiny" / "model.safetensors").read_bytes())
    assert "has no tokenizer" in _error(tmp_path, text)


BAD_FILES = [
    ("sentence\tother\tlabel\n", "empty: no data rows"),
    ("", "empty: no data rows"),
    ("sentence\tother\tlabel\na b\tc\t1\nd\te\n", "bad.tsv:3: expected 3 tab-separated columns"),
    ("sentence\tother\tlabel\na b\tc\tyes\n", "bad.tsv:2: expected an integer label, found 'yes'"),
    ("sentence\tother\tlabel\na b\tc\t3\n", "bad.tsv:2: label 3 is outside the model's classes"),
    ("sentence\tother\tlabel\na b\t \t1\n", "bad.tsv:2: empty or non-text value in column"),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
def test_a_bad_evaluation_file_names_its_line(tiny: Path, content: str, expected: str) -> None:
    (tiny / "bad.tsv").write_text(content)
    message = _error(tiny, SUITE.replace('file = "eval.tsv"', 'file = "bad.tsv"'))
    assert expected in message and "(models.tiny.eval in bad.toml)" in message


def test_an_evaluation_file_that_is_not_utf8_names_its_line(tiny: Path) -> None:
    (tiny / "bad.tsv").write_bytes(b"sentence\tother\tlabel\na\tb\t1\n\xff\tb\t1\n")
    message = _error(tiny, SUITE.replace('file = "eval.tsv"', 'file = "bad.tsv"'))
    assert "bad.tsv:3: not valid UTF-8" in message


def test_csv_and_json_lines_are_read_by_column_name(tmp_path: Path) -> None:
    from compress.core.textdata import read_labelled

    (tmp_path / "a.csv").write_text('label,text\n1,"quoted, with a comma"\n0,"two\nlines"\n')
    rows = read_labelled(tmp_path / "a.csv", "text", fmt="csv", num_labels=2)
    assert rows.first == ("quoted, with a comma", "two\nlines") and rows.labels == (1, 0)
    (tmp_path / "a.jsonl").write_text('{"t": "x", "y": 1}\n\n{"t": "z", "y": 0}\n')
    rows = read_labelled(tmp_path / "a.jsonl", "t", label="y", fmt="jsonl")
    assert rows.first == ("x", "z") and rows.labels == (1, 0)
    (tmp_path / "b.jsonl").write_text('{"t": "x", "y": 1}\n{"t": "z"}\n')
    with pytest.raises(InputError, match=r"b.jsonl:2: no column 'y'"):
        read_labelled(tmp_path / "b.jsonl", "t", label="y", fmt="jsonl")
