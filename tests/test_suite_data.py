"""Data as it comes (docs/suite.md): labels by the model's names, files without a header row
(columns by position), parquet files, ``datasets`` directories and hub datasets; each defect
is one line naming the suite file and key, or the data file and its line (a table's row)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from compress.core.textdata import LabelSpace, read_labelled
from compress.methods.suite import load_suite
from fixtures.recipes import declared
from fixtures.recipes.declared import check_suite, read_split
from fixtures.store.sources import OFFLINE_VARS
from tests.test_declared_flow import _pytest
from tests.test_suite import _error, make_model

NAMES = ("entailment", "not_entailment")
ROWS = [("w1 w2 w3", "w4 w5", "entailment"), ("w6 w7", "w8 w9 w10", "not_entailment"),
        ("w11 w12", "w13", "not_entailment"), ("w14", "w15 w16", "entailment")]  # fmt: skip
SUITE = """
[models.rte]
path = "rte"
metric = "accuracy"
eval = { file = "dev.tsv", text = "sentence1", text_pair = "sentence2", label = "label" }
methods = ["torch-dynamic"]
"""


def name_labels(model: Path, names: tuple[str, ...]) -> None:
    """Name the classes in config.json, as a fine-tuned model's save_pretrained does."""
    config = json.loads((model / "config.json").read_text())
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    (model / "config.json").write_text(json.dumps(config))


def columns(rows=ROWS) -> dict[str, list]:
    return {k: [r[i] for r in rows] for i, k in enumerate(("sentence1", "sentence2", "label"))}


@pytest.fixture(scope="module")
def rte(tmp_path_factory) -> Path:
    """An RTE-like folder: a two-class model naming its labels, dev.tsv with names, the same
    rows as parquet and as save_to_disk directories (a Dataset and a DatasetDict)."""
    root = tmp_path_factory.mktemp("data")
    name_labels(make_model(root / "rte", num_labels=2), NAMES)
    lines = ["sentence1\tsentence2\tlabel", *("\t".join(r) for r in ROWS)]
    (root / "dev.tsv").write_text("\n".join(lines) + "\n")
    pq.write_table(pa.table(columns()), root / "dev.parquet")
    Dataset.from_dict(columns()).save_to_disk(str(root / "one"))
    splits = {
        "train": Dataset.from_dict(columns(ROWS[:2])),
        "validation": Dataset.from_dict(columns()),
    }
    DatasetDict(splits).save_to_disk(str(root / "two"))
    (root / "suite.toml").write_text(SUITE)
    return root


def _eval(root: Path, text: str, name: str = "ok.toml"):
    (root / name).write_text(text)
    suite = load_suite(root / name)
    check_suite(suite)
    return suite, read_split(suite, suite.models[0], "eval")


def test_labels_are_read_by_the_model_s_names(rte: Path) -> None:
    _, split = _eval(rte, SUITE)
    assert split.labels == (0, 1, 1, 0)
    (rte / "ids.tsv").write_text("sentence1\tsentence2\tlabel\na\tb\t1\nc\td\t0\n")
    _, split = _eval(rte, SUITE.replace('"dev.tsv"', '"ids.tsv"'))
    assert split.labels == (1, 0)  # integer labels as before


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("neutral", "bad.tsv:3: label 'neutral' is not one of the model's labels (entailment, "
                    "not_entailment) (models.rte.eval in bad.toml)"),
        ("Entailment", "bad.tsv:3: label 'Entailment' is not one of the model's labels "
                       "(entailment, not_entailment); names are matched as written, the "
                       "model's is 'entailment'"),
        ("2", "bad.tsv:3: label 2 is outside the model's classes 0..1"),
    ],
)  # fmt: skip
def test_a_label_the_model_does_not_know_names_file_line_and_names(
    rte: Path, label: str, expected: str
) -> None:
    (rte / "bad.tsv").write_text(f"sentence1\tsentence2\tlabel\na\tb\tentailment\nc\td\t{label}\n")
    assert expected in _error(rte, SUITE.replace('"dev.tsv"', '"bad.tsv"'))


COLA = "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe more books I ask.\n"


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_a_file_without_a_header_is_read_by_column_position(rte: Path, fmt: str) -> None:
    sep = "\t" if fmt == "tsv" else ","
    (rte / f"cola.{fmt}").write_text(COLA.replace("\t", sep))
    text = SUITE.replace('"dev.tsv", text = "sentence1", text_pair = "sentence2", label = "label"',
                         f'"cola.{fmt}", header = false, text = 3, label = 1')  # fmt: skip
    suite, split = _eval(rte, text + f'calibration = "cola.{fmt}"\n')
    model = suite.models[0]
    assert model.eval.header is False and model.calibration.text == 3  # the eval file's columns
    assert split.sentence1 == ("The sailors rode the breeze.", "The more books I ask.")
    assert split.labels == (1, 0) and split.sentence2 is None
    rows = read_labelled(rte / f"cola.{fmt}", 3, label=None, fmt=fmt, header=False)
    assert rows.first == split.sentence1 and rows.labels is None


HEADERLESS = 'eval = { file = "cola.tsv", header = false, text = 3, label = 1 }'
BAD_COLUMNS = [
    (HEADERLESS.replace("text = 3", "text = 4"),
     "cola.tsv:1: no column 4 (the row has 4 columns: positions 0..3)"),
    (HEADERLESS.replace("text = 3", 'text = "sentence"'),
     "models.rte.eval.text: expected a column position (an integer >= 0: header = false)"),
    (HEADERLESS.replace("header = false, ", ""),
     "models.rte.eval.text: expected a column name; a position (3) needs header = false"),
    (HEADERLESS.replace('"cola.tsv"', '"dev.parquet"'),
     "models.rte.eval.header: header = false is for tsv and csv files, not parquet"),
    (HEADERLESS.replace("header = false", 'header = "no"'),
     "models.rte.eval.header: expected true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "expected"), BAD_COLUMNS)
def test_a_column_position_that_is_not_there_is_one_line(
    rte: Path, line: str, expected: str
) -> None:
    (rte / "cola.tsv").write_text(COLA)
    text = SUITE.replace(SUITE.splitlines()[4], line)
    assert expected in _error(rte, text)


def test_a_row_shorter_than_the_first_names_its_line(rte: Path) -> None:
    (rte / "cola.tsv").write_text(COLA + "gj04\t1\tshort\n")
    message = _error(rte, SUITE.replace(SUITE.splitlines()[4], HEADERLESS))
    assert "cola.tsv:3: expected 4 tab-separated columns as line 1, found 3" in message


@pytest.mark.parametrize(
    ("file", "extra"),
    [("dev.parquet", ""), ("one", ""), ("two", ', split = "validation"')],
    ids=["parquet", "datasets", "datasets-split"],
)
def test_parquet_and_datasets_directories_are_read_by_column_name(
    rte: Path, file: str, extra: str
) -> None:
    text = SUITE.replace('file = "dev.tsv"', f'file = "{file}"{extra}')
    text += f'calibration = "{file}"\n' if not extra else ""
    suite, split = _eval(rte, text)
    model = suite.models[0]
    assert model.eval.format == ("parquet" if file.endswith("parquet") else "datasets")
    assert split.labels == (0, 1, 1, 0) and split.sentence2[1] == "w8 w9 w10"
    assert "sha256" in split.source
    if model.calibration is not None:
        calibration = read_split(suite, model, "calibration")
        assert calibration.sentence1 == split.sentence1


BAD_TABLES = [
    ('file = "dev.parquet", text = "premise"',
     "dev.parquet: no column 'premise' (columns: 'sentence1', 'sentence2', 'label')"),
    ('file = "two", text = "sentence1"',
     "two: holds the splits train, validation: name one (split = ...)"),
    ('file = "two", split = "test", text = "sentence1"',
     "two: no split 'test' (splits: train, validation)"),
    ('file = "rte", text = "sentence1"', "rte: not a datasets save_to_disk directory"),
    ('file = "dev.tsv", split = "train", text = "sentence1"',
     "models.rte.eval.split: is for datasets or hub sources, not tsv"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), BAD_TABLES)
def test_a_table_without_the_column_or_a_directory_that_is_none_is_one_line(
    rte: Path, source: str, expected: str
) -> None:
    text = SUITE.replace('file = "dev.tsv", text = "sentence1"', source)
    message = _error(rte, text)
    assert expected in message and "bad.toml" in message


def test_a_bad_label_in_a_table_names_its_row(rte: Path) -> None:
    rows = [*ROWS[:2], ("w1", "w2", "contradiction")]
    pq.write_table(pa.table(columns(rows)), rte / "bad.parquet")
    message = _error(rte, SUITE.replace('"dev.tsv"', '"bad.parquet"'))
    assert "bad.parquet: row 2: label 'contradiction' is not one of the model's labels" in message


HUB = SUITE.replace('"dev.tsv"', '"org/rte-data", subset = "rte", split = "validation"')


@pytest.mark.parametrize("offline_var", [None, "1"], ids=["hub-silent", "offline"])
def test_a_hub_dataset_needs_the_hub(
    rte: Path, monkeypatch: pytest.MonkeyPatch, offline_var: str | None
) -> None:
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    if offline_var:
        monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", offline_var)
    monkeypatch.setattr(declared, "hub_reachable", lambda: False)  # never the network in tests
    why = "off: offline mode" if offline_var else "unreachable"
    expected = f"org/rte-data: no such file or directory (a hub dataset id, but the hub is {why})"
    assert _error(rte, HUB).endswith(f"models.rte.eval.file: {expected}")


def test_a_hub_dataset_is_read_when_the_hub_answers(
    rte: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    asked = []

    def load_dataset(name, subset, split):  # the hub, stood in for: no network in tests
        asked.append((name, subset, split))
        return Dataset.from_dict(columns())

    monkeypatch.setattr(declared, "hub_reachable", lambda: True)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    suite, split = _eval(rte, HUB)
    assert suite.models[0].eval.format == "hub" and suite.models[0].eval.file == "org/rte-data"
    assert asked[0] == ("org/rte-data", "rte", "validation")
    assert split.labels == (0, 1, 1, 0) and "org/rte-data rte validation" in split.source


def test_a_label_space_reads_ids_names_and_numbers() -> None:
    space = LabelSpace(2, {"yes": 1, "no": 0})
    assert [space.parse(v) for v in ("yes", " no", "1", 0)] == [1, 0, 1, 0]
    assert LabelSpace(1, regression=True).parse(" 2.5") == 2.5
    with pytest.raises(ValueError, match="expected a number label"):
        LabelSpace(1, regression=True).parse("nan")
    with pytest.raises(ValueError, match=r"found 'yes' \(the model's config.json names no"):
        LabelSpace(2, {"LABEL_0": 0, "LABEL_1": 1}).parse("yes")
    assert LabelSpace(deferred=True).parse("anything") == 0  # a hub model, before it loads


def test_bad_data_stops_the_run_before_anything_is_written(rte: Path) -> None:
    (rte / "bad.tsv").write_text("sentence1\tsentence2\tlabel\na\tb\tneutral\n")
    (rte / "bad.toml").write_text(SUITE.replace('"dev.tsv"', '"bad.tsv"'))
    run = rte / "empty-run"
    run.mkdir()
    proc = _pytest("--suite", str(rte / "bad.toml"), "--benchmark-autosave", cwd=run)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "bad.tsv:2: label 'neutral' is not one of the model's labels" in proc.stderr
    assert list(run.iterdir()) == []


def test_the_documented_suite_files_are_read(tmp_path: Path) -> None:
    """docs/suite.md's examples are valid suite files, read as the page says."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "suite.md").read_text()
    blocks = page.split("## The file")[1].split("## What each case measures")[0].split("```toml")
    models = {}
    for i, block in enumerate(blocks[1:]):
        (tmp_path / f"{i}.toml").write_text(block.split("```")[0])
        models |= {m.name: m for m in load_suite(tmp_path / f"{i}.toml").models}
    assert models["rte"].eval.label == "label" and models["cola"].eval.header is False
    assert (models["cola"].eval.text, models["cola"].eval.label, models["cola"].metric) == (
        3,
        1,
        "mcc",
    )
    stsb = models["stsb"]
    assert stsb.regression and stsb.eval.split == "validation"
    assert stsb.budgets.agreement_tolerance == 0.1 and "fine-pruned" not in stsb.methods
