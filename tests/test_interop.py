"""The tools users pipe the corpus into, used for real: jq, DuckDB, pandas, datasets.

Each runs where installed; CI installs them all and sets ZKIZ_REQUIRE_INTEROP=1, which
turns a missing tool into a failure instead of a skip.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess

import pytest

from tests.support import Archive, numbered_pages, run_zkiz

FIRST, COUNT = 20000, 100


def require_module(name: str):
    if os.environ.get("ZKIZ_REQUIRE_INTEROP"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("ZKIZ_REQUIRE_INTEROP"):
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def corpus_export(tmp_path_factory):
    """A 100-id corpus, fetched from the loopback archive and exported as JSONL."""
    scratch = tmp_path_factory.mktemp("interop")
    pages, article_ids = numbered_pages(FIRST, COUNT)
    with Archive(pages) as archive:
        done = run_zkiz(
            "fetch",
            "--corpus",
            str(scratch / "corpus"),
            "--from-id",
            str(FIRST),
            "--count",
            str(COUNT),
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
        )
        assert done.returncode == 0, done.stderr
    exported = scratch / "corpus.jsonl"
    done = run_zkiz("export", "--corpus", str(scratch / "corpus"), "-o", str(exported))
    assert done.returncode == 0
    return exported, article_ids


def test_jq(corpus_export):
    path, article_ids = corpus_export
    jq = require_program("jq")
    count = subprocess.run([jq, "-s", "length", str(path)], capture_output=True, text=True)
    assert count.stdout.strip() == str(len(article_ids))
    types = subprocess.run([jq, "-r", ".id | type", str(path)], capture_output=True, text=True)
    assert set(types.stdout.split()) == {"number"}
    ids = subprocess.run([jq, "-r", ".id", str(path)], capture_output=True, text=True)
    assert [int(n) for n in ids.stdout.split()] == article_ids
    titles = subprocess.run(
        [jq, "-r", ".title_original", str(path)], capture_output=True, text=True, encoding="utf-8"
    )
    assert titles.stdout.splitlines()[0] == f"第{article_ids[0]}號文章"


def test_duckdb(corpus_export):
    path, article_ids = corpus_export
    duckdb = require_module("duckdb")
    connection = duckdb.connect()
    ((rows, id_type, first),) = connection.execute(
        f"SELECT count(*), any_value(typeof(id)), min(id) FROM read_json_auto('{path}')"
    ).fetchall()
    assert rows == len(article_ids)
    assert id_type in ("BIGINT", "UBIGINT", "INTEGER")
    assert first == article_ids[0]


def test_pandas(corpus_export):
    path, article_ids = corpus_export
    pandas = require_module("pandas")
    frame = pandas.read_json(path, lines=True)
    assert len(frame) == len(article_ids)
    assert str(frame["id"].dtype) == "int64"
    assert frame["id"].tolist() == article_ids


def test_hugging_face_datasets(corpus_export, tmp_path, monkeypatch):
    path, article_ids = corpus_export
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = require_module("datasets")
    dataset = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert dataset.num_rows == len(article_ids)
    assert dataset.features["id"].dtype == "int64"
    assert dataset[0]["id"] == article_ids[0]


def test_gzip_export_reads_back(corpus_export, tmp_path):
    import gzip

    path, article_ids = corpus_export
    packed = tmp_path / "corpus.jsonl.gz"
    corpus = path.parent / "corpus"
    assert run_zkiz("export", "--corpus", str(corpus), "-o", str(packed)).returncode == 0
    with gzip.open(packed, "rt", encoding="utf-8") as stream:
        assert [json.loads(line)["id"] for line in stream] == article_ids


def test_every_record_of_the_corpus_validates_against_zkiz_schema(corpus_export):
    import jsonschema

    path, article_ids = corpus_export
    schema = json.loads(run_zkiz("schema").stdout)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    with path.open(encoding="utf-8") as stream:
        records = [json.loads(line) for line in stream]
    assert len(records) == len(article_ids)
    for record in records:
        validator.validate(record)


# ---- Parquet: the same rows, and types as each tool reads the JSONL's -----------------


@pytest.fixture(scope="module")
def parquet_export(corpus_export):
    path, article_ids = corpus_export
    require_module("pyarrow")
    parquet = path.parent / "corpus.parquet"
    done = run_zkiz("export", "--corpus", str(path.parent / "corpus"), "-o", str(parquet))
    assert done.returncode == 0, done.stderr
    return path, parquet, article_ids


def test_parquet_in_duckdb(parquet_export):
    jsonl_path, parquet, article_ids = parquet_export
    duckdb = require_module("duckdb")
    connection = duckdb.connect()
    from_json = connection.execute(f"SELECT * FROM read_json_auto('{jsonl_path}') ORDER BY id")
    json_types = [column[1] for column in from_json.description]
    json_rows = from_json.fetchall()
    from_parquet = connection.execute(f"SELECT * FROM read_parquet('{parquet}') ORDER BY id")
    parquet_types = [column[1] for column in from_parquet.description]
    assert from_parquet.fetchall() == json_rows and len(json_rows) == len(article_ids)
    for json_type, parquet_type in zip(json_types, parquet_types):
        if json_type != '"NULL"':  # a column null on every line has no type in JSON
            assert json_type == parquet_type


def test_parquet_in_pandas(parquet_export):
    jsonl_path, parquet, article_ids = parquet_export
    pandas = require_module("pandas")
    from_json = pandas.read_json(jsonl_path, lines=True)
    from_parquet = pandas.read_parquet(parquet)
    assert from_parquet["id"].tolist() == article_ids
    assert list(from_parquet.columns) == list(from_json.columns)
    for name in from_json.columns:
        if from_json[name].isna().all():
            assert from_parquet[name].isna().all()
            continue
        assert from_parquet[name].dtype.kind == from_json[name].dtype.kind, name
        assert from_parquet[name].tolist() == from_json[name].tolist(), name


def test_parquet_in_hugging_face_datasets(parquet_export, tmp_path, monkeypatch):
    jsonl_path, parquet, article_ids = parquet_export
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    datasets = require_module("datasets")
    cache = str(tmp_path / "cache")
    from_json = datasets.load_dataset(
        "json", data_files=str(jsonl_path), split="train", cache_dir=cache
    )
    from_parquet = datasets.load_dataset(
        "parquet", data_files=str(parquet), split="train", cache_dir=cache
    )
    assert from_parquet.num_rows == len(article_ids)
    assert from_parquet.column_names == from_json.column_names
    for name in from_json.column_names:
        json_type, parquet_type = from_json.features[name].dtype, from_parquet.features[name].dtype
        if json_type == "null":
            assert set(from_parquet[name]) == {None}
        elif json_type.startswith("timestamp"):  # the JSON reader's has no zone: UTC
            assert parquet_type.startswith("timestamp")
            assert [t.replace(tzinfo=None) for t in from_parquet[name]] == from_json[name]
        else:
            assert parquet_type == json_type and from_parquet[name] == from_json[name], name


def test_a_deduplicated_marked_export_in_parquet(parquet_export, tmp_path):
    jsonl_path, _, article_ids = parquet_export
    require_module("pyarrow")
    import pyarrow.parquet as pq

    corpus = jsonl_path.parent / "corpus"
    marked = tmp_path / "marked.parquet"
    command = ["export", "--corpus", str(corpus), "--dedup", "exact", "--mark-duplicates"]
    done = run_zkiz(*command, "-o", str(marked))
    assert done.returncode == 0, done.stderr
    as_json = [json.loads(line) for line in run_zkiz(*command).stdout.splitlines()]
    table = pq.read_table(marked)
    assert str(table.schema.field("duplicate_of").type) == "int64"
    assert table.column("id").to_pylist() == [r["id"] for r in as_json] == article_ids
    assert table.column("duplicate_of").to_pylist() == [r["duplicate_of"] for r in as_json]
