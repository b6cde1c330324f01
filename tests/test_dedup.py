"""Duplicate reposts: zkiz dedup, export --dedup, the index kept in the corpus."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.bench.reposts import Story, make_set, record_of, score, write_corpus
from tests.support import (
    SEED_A,
    ArticleSpec,
    jsonl,
    markup_div_br,
    run_zkiz,
    without_write_rights,
)
from zkiz_corpus.cli import cli
from zkiz_corpus.duplicates import (
    DEFAULT_THRESHOLD,
    INDEX_FILE,
    DedupIndex,
    Mode,
    find_duplicates,
    fingerprint,
    normal_form,
)
from zkiz_corpus.storing import Corpus

LATER = "2026-11-28T00:00:00Z"  # when a second run started


@pytest.fixture(scope="module")
def reposts():
    return make_set(120)


@pytest.fixture
def corpus(tmp_path, reposts):
    directory = tmp_path / "corpus"
    write_corpus(directory, reposts.records)
    return directory


def records_of(directory):
    return run_zkiz("export", "--corpus", str(directory)).stdout


def verdicts(directory, mode=Mode.NEAR, threshold=DEFAULT_THRESHOLD):
    with DedupIndex(directory / INDEX_FILE, threshold) as index:
        return dict(index.verdicts(mode))


def test_one_story_in_two_scripts_and_punctuation_widths_has_one_normal_form():
    traditional = "恒生指數收市報二萬點，成交額 1,000 億元。\n港交所（0388）升 2%！"
    simplified = "恒生指数收市报二万点,成交额1，000亿元.港交所(０３８８)升2％!"
    assert normal_form(traditional) == normal_form(simplified)
    assert normal_form(traditional) == "恒生指数收市报二万点成交额1000亿元港交所0388升2"


def test_reposts_are_found_at_the_default_threshold(corpus, reposts):
    find_duplicates(corpus, os.devnull)
    found = score(reposts, verdicts(corpus))
    assert found["recall"] >= 0.95 and found["precision"] >= 0.99, found


def test_exact_mode_joins_only_copies_of_one_normal_form(corpus, reposts):
    find_duplicates(corpus, os.devnull, mode=Mode.EXACT)
    kept = verdicts(corpus, Mode.EXACT)
    by_id = {record["id"]: record for record in reposts.records}
    for article_id, root in kept.items():
        if root != article_id:
            assert fingerprint(by_id[article_id]).exact == fingerprint(by_id[root]).exact
    joined = {i for i, root in kept.items() if root != i}
    assert any(reposts.changes_of[i] == ("half-width",) for i in joined)  # same words
    assert not any("paragraph-added" in reposts.changes_of[i] for i in joined)


def test_dedup_prints_clusters_and_a_summary(corpus, reposts):
    done = run_zkiz("dedup", "--corpus", str(corpus))
    assert done.returncode == 0, done.stderr
    clusters = jsonl(done.stdout)
    assert clusters, "the set has reposts"
    kept = verdicts(corpus)
    for cluster in clusters:
        assert cluster["kept"] == min(cluster["ids"]) and cluster["size"] == len(cluster["ids"])
        assert {kept[i] for i in cluster["ids"]} == {cluster["kept"]}
        assert [d["id"] for d in cluster["duplicates"]] == cluster["ids"][1:]
        assert all(0 < d["similarity"] <= 1 for d in cluster["duplicates"])
    stderr = done.stderr.decode()
    not_kept = sum(c["size"] - 1 for c in clusters)
    assert f"{len(reposts.records)} records ({len(reposts.records)} new to the index)" in stderr
    assert f"{len(clusters)} near-duplicate clusters, {not_kept} records not kept" in stderr
    again = run_zkiz("dedup", "--corpus", str(corpus), "-q")
    assert again.returncode == 0 and again.stderr == b""
    assert jsonl(again.stdout) == clusters


def test_export_leaves_duplicates_out_or_marks_them(corpus, runner):
    every = jsonl(runner.invoke(cli, ["export", "--corpus", str(corpus)]).stdout_bytes)
    done = runner.invoke(cli, ["export", "--corpus", str(corpus), "--dedup", "near"])
    assert done.exit_code == 0, done.output
    verdicts_after = verdicts(corpus)
    kept = [r["id"] for r in every if verdicts_after[r["id"]] == r["id"]]
    assert [r["id"] for r in jsonl(done.stdout_bytes)] == kept
    assert len(kept) < len(every)
    marked = runner.invoke(
        cli, ["export", "--corpus", str(corpus), "--dedup", "near", "--mark-duplicates"]
    )
    assert marked.exit_code == 0, marked.output
    records = jsonl(marked.stdout_bytes)
    assert [r["id"] for r in records] == [r["id"] for r in every]
    for record in records:
        root = verdicts_after[record["id"]]
        assert record["duplicate_of"] == (None if root == record["id"] else root)
        assert {k: v for k, v in record.items() if k != "duplicate_of"} in every


def test_a_night_of_new_records_is_added_not_recomputed(tmp_path, reposts):
    half = len(reposts.records) // 2
    first, night = reposts.records[:half], reposts.records[half:]
    directory = tmp_path / "corpus"
    write_corpus(directory, first)
    assert run_zkiz("dedup", "--corpus", str(directory), "-o", os.devnull).returncode == 0
    write_corpus(directory, night, LATER)
    done = run_zkiz("dedup", "--corpus", str(directory))
    assert done.returncode == 0, done.stderr
    assert f"({len(night)} new to the index)" in done.stderr.decode()
    assert "built afresh" not in done.stderr.decode()
    rebuilt = run_zkiz("dedup", "--corpus", str(directory), "--rebuild")
    assert f"({len(reposts.records)} new to the index)" in rebuilt.stderr.decode()
    assert jsonl(done.stdout) == jsonl(rebuilt.stdout)  # the same clusters, either way


def test_a_lower_id_that_comes_later_is_the_one_kept(tmp_path):
    story = [SEED_A.title, SEED_A.paragraphs]
    directory = tmp_path / "corpus"
    write_corpus(directory, [record_of(500, _story(*story))])
    find_duplicates(directory, os.devnull)
    write_corpus(directory, [record_of(20, _story(*story))], LATER)
    find_duplicates(directory, os.devnull)
    assert verdicts(directory) == {20: 20, 500: 20}
    assert verdicts(directory, Mode.EXACT) == {20: 20, 500: 20}


def _story(title, paragraphs):
    return Story(title, tuple(paragraphs))


def test_a_changed_threshold_or_a_refetched_record_rebuilds_the_index(corpus, reposts):
    assert run_zkiz("dedup", "--corpus", str(corpus), "-o", os.devnull).returncode == 0
    other = run_zkiz("dedup", "--corpus", str(corpus), "--threshold", "0.8", "-o", os.devnull)
    assert other.returncode == 0
    assert "built afresh: its settings changed (threshold 0.6 -> 0.8)" in other.stderr.decode()
    # A record the index holds, written again with another text (as --refetch does).
    with sqlite3.connect(corpus / "state.sqlite3") as db:
        db.execute("DELETE FROM ids WHERE id = ?", (reposts.records[0]["id"],))
    changed = run_zkiz("dedup", "--corpus", str(corpus), "--threshold", "0.8", "-o", os.devnull)
    assert changed.returncode == 0
    assert "records it holds were refetched or set aside" in changed.stderr.decode()
    assert f"{len(reposts.records) - 1} records" in changed.stderr.decode()


KNOBS = ("--workers", "0", "-o", os.devnull)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_dedup_stopped_mid_update_loses_nothing_and_the_next_one_completes(tmp_path, signum):
    reposts = make_set(400, seed=7)
    directory = tmp_path / "corpus"
    write_corpus(directory, reposts.records)
    expected = run_zkiz("dedup", "--corpus", str(directory), "--workers", "0")
    (directory / INDEX_FILE).unlink()
    for name in ("-wal", "-shm"):
        (directory / (INDEX_FILE + name)).unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "zkiz_corpus", "dedup", "--corpus", str(directory), *KNOBS],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    indexed = 0
    while indexed == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
        try:
            with sqlite3.connect(f"file:{directory / INDEX_FILE}?mode=ro", uri=True) as db:
                indexed = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        except sqlite3.Error:
            pass
    assert process.poll() is None and 0 < indexed < len(reposts.records), indexed
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    if signum != signal.SIGKILL:  # 143 or 130, and one line saying so
        assert process.returncode == 128 + signum
        assert stderr.decode().count("\n") == 1 and b"Traceback" not in stderr, stderr
    resumed = run_zkiz("dedup", "--corpus", str(directory))
    assert resumed.returncode == 0, resumed.stderr
    added = int(re.search(r"\((\d+) new to the index\)", resumed.stderr.decode()).group(1))
    assert 0 < added <= len(reposts.records) - indexed  # what was committed was kept
    assert jsonl(resumed.stdout) == jsonl(expected.stdout)


def test_a_second_dedup_is_refused_while_one_updates_the_index(corpus):
    with DedupIndex(corpus / INDEX_FILE):
        done = run_zkiz("dedup", "--corpus", str(corpus))
        export = run_zkiz("export", "--corpus", str(corpus), "--dedup", "exact")
    for refused in (done, export):
        assert refused.returncode == 75
        assert refused.stderr.decode().count("\n") == 1
        assert "is being updated by another run" in refused.stderr.decode()


def test_a_read_only_corpus_is_deduplicated_aside(corpus):
    expected = run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout
    for name in os.listdir(corpus):
        if name.startswith(INDEX_FILE):
            os.unlink(corpus / name)
    before = sorted(os.listdir(corpus))
    entries = [corpus, *corpus.iterdir()]
    for entry in entries:
        entry.chmod(0o555 if entry.is_dir() else 0o444)
    try:
        command = [sys.executable, "-m", "zkiz_corpus", "dedup", "--corpus", str(corpus)]
        done = subprocess.run(without_write_rights(command), capture_output=True)
    finally:
        for entry in entries:
            entry.chmod(0o755 if entry.is_dir() else 0o644)
    assert done.returncode == 0, done.stderr
    assert "built aside" in done.stderr.decode()
    assert done.stdout == expected and sorted(os.listdir(corpus)) == before


def test_an_unreadable_index_is_set_aside_and_built_afresh(corpus):
    expected = run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout
    (corpus / INDEX_FILE).write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (corpus / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    done = run_zkiz("dedup", "--corpus", str(corpus))
    assert done.returncode == 0, done.stderr
    assert f"{INDEX_FILE} was unreadable" in done.stderr.decode()
    assert done.stdout == expected
    assert (corpus / (INDEX_FILE + ".damaged")).read_bytes() == b"not a database" * 100


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["dedup", "--threshold", "0"], "--threshold"),
        (["dedup", "--threshold", "1.5"], "--threshold"),
        (["dedup", "--mode", "fuzzy"], "--mode"),
        (["export", "--dedup", "fuzzy"], "--dedup"),
        (["export", "--mark-duplicates"], "--mark-duplicates needs --dedup"),
    ],
)
def test_bad_dedup_options_are_one_line_and_exit_2(corpus, args, said):
    done = run_zkiz(*args, "--corpus", str(corpus))
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert stderr.count("\n") == 1 and said in stderr and "Traceback" not in stderr


def test_dedup_of_no_corpus_is_one_line(tmp_path):
    done = run_zkiz("dedup", "--corpus", str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and "not a zkiz corpus" in done.stderr.decode()


# ---- Parquet ---------------------------------------------------------------------------

WITHOUT_PYARROW = (
    "import sys; sys.modules['pyarrow'] = None; sys.argv[0] = 'zkiz'; "
    "from zkiz_corpus.cli import main; main()"
)


@pytest.mark.parametrize("command", ["export", "dedup"])
def test_parquet_without_pyarrow_is_one_line_naming_the_extra(corpus, tmp_path, command):
    target = tmp_path / "out.parquet"
    arguments = [command, "--corpus", str(corpus), "-o", str(target)]
    done = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW, *arguments], capture_output=True)
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert stderr.count("\n") == 1 and "pip install 'zkiz-corpus[parquet]'" in stderr, stderr
    assert sorted(os.listdir(tmp_path)) == ["corpus"]  # nothing left behind


def test_the_cluster_report_in_parquet_is_the_jsonl_one(corpus, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    as_jsonl = jsonl(run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout)
    done = run_zkiz("dedup", "--corpus", str(corpus), "-o", str(tmp_path / "clusters.parquet"))
    assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "clusters.parquet").to_pylist() == as_jsonl


def test_a_parquet_export_that_meets_damage_keeps_the_earlier_file(corpus, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "corpus.parquet"
    assert run_zkiz("export", "--corpus", str(corpus), "-o", str(target)).returncode == 0
    before = target.read_bytes()
    assert pq.read_table(target).num_rows == len(jsonl(records_of(corpus)))
    records = corpus / "records.jsonl"
    data = bytearray(records.read_bytes())
    data[200] ^= 0x20  # one record's bytes changed: its digest no longer matches
    records.write_bytes(bytes(data))
    done = run_zkiz("export", "--corpus", str(corpus), "-o", str(target))
    assert done.returncode == 1 and "skipped 1 damaged record" in done.stderr.decode()
    assert target.read_bytes() == before
    assert [name for name in os.listdir(tmp_path) if name.endswith(".partial")] == []


# ---- what an outside attack found --------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "own"),
    [("dedup", "records.jsonl"), ("dedup", "state.sqlite3"), ("export", INDEX_FILE)],
)
def test_an_output_that_is_a_corpus_file_is_refused(corpus, command, own):
    before = (corpus / "records.jsonl").read_bytes()
    run_zkiz("dedup", "--corpus", str(corpus), "-q", "-o", os.devnull)
    extra = ["--dedup", "near"] if command == "export" else []
    done = run_zkiz(command, "--corpus", str(corpus), *extra, "-o", str(corpus / own))
    assert done.returncode == 2
    assert f"is the corpus's own {own}" in done.stderr.decode()
    assert (corpus / "records.jsonl").read_bytes() == before
    assert run_zkiz("verify", "--corpus", str(corpus)).returncode == 0


def test_the_index_log_stays_small_while_it_is_built(tmp_path):
    reposts = make_set(900, seed=3)
    directory = tmp_path / "corpus"
    write_corpus(directory, reposts.records)
    wal = directory / (INDEX_FILE + "-wal")
    process = subprocess.Popen(
        [sys.executable, "-m", "zkiz_corpus", "dedup", "--corpus", str(directory), *KNOBS]
    )
    largest = 0
    while process.poll() is None:
        with contextlib.suppress(OSError):
            largest = max(largest, wal.stat().st_size)
        time.sleep(0.01)
    assert process.returncode == 0
    # SQLite folds its log back into the file every 1000 pages (4 MB) when no read holds
    # it open; the index of these 2,300 records is about 4 MB.
    assert largest < 8 * 1024 * 1024, largest


def test_a_full_disk_is_one_line_and_the_index_is_not_set_aside(corpus, reposts):
    half = len(reposts.records) // 2
    directory = corpus.parent / "growing"
    write_corpus(directory, reposts.records[:half])
    assert run_zkiz("dedup", "--corpus", str(directory), *KNOBS).returncode == 0
    write_corpus(directory, reposts.records[half:], LATER)
    size = (directory / INDEX_FILE).stat().st_size

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, size + 4096))

    done = subprocess.run(
        [sys.executable, "-m", "zkiz_corpus", "dedup", "--corpus", str(directory), *KNOBS],
        capture_output=True,
        preexec_fn=small_files,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not (directory / (INDEX_FILE + ".damaged")).exists()
    after = run_zkiz("dedup", "--corpus", str(directory), "-q")
    assert after.returncode == 0 and "built afresh" not in after.stderr.decode()
    assert jsonl(after.stdout) == jsonl(run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout)


def test_damage_inside_the_index_is_set_aside_and_rebuilt(corpus):
    expected = run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout
    index = corpus / INDEX_FILE
    assert run_zkiz("dedup", "--corpus", str(corpus), "-q").returncode == 0  # checkpointed
    data = bytearray(index.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = random.Random(5).randbytes(8192)
    index.write_bytes(bytes(data))
    for command in (["dedup", "-q"], ["dedup", "--rebuild"], ["export", "--dedup", "near"]):
        done = run_zkiz(*command, "--corpus", str(corpus))
        assert done.returncode == 0, (command, done.stderr)
        assert b"Traceback" not in done.stderr
    assert run_zkiz("dedup", "--corpus", str(corpus), "-q").stdout == expected


def two_short_posts_alike(tmp_path):
    """Ids 10 and 11: one title, one short body, in a folder of pages and a corpus."""
    pages = tmp_path / "pages"
    pages.mkdir()
    for article_id in (10, 11):
        spec = ArticleSpec(article_id, "同一標題", ("如題。",))
        (pages / f"{article_id}.html").write_text(markup_div_br([spec]), encoding="utf-8")
    corpus = tmp_path / "corpus"
    assert run_zkiz("fetch", "--source", str(pages), "--corpus", str(corpus), "-q").returncode == 0
    return pages, corpus


def test_a_refetch_that_changes_only_a_title_is_noticed(tmp_path):
    pages, corpus_path = two_short_posts_alike(tmp_path)
    corpus = str(corpus_path)
    before = jsonl(run_zkiz("dedup", "--corpus", corpus, "--mode", "exact", "-q").stdout)
    assert [cluster["ids"] for cluster in before] == [[10, 11]]
    spec = ArticleSpec(11, "另一個標題", ("如題。",))
    (pages / "11.html").write_text(markup_div_br([spec]), encoding="utf-8")
    refetch = run_zkiz(
        "fetch", "--source", str(pages), "--corpus", corpus, "--refetch", "--from-id", "11"
    )
    assert refetch.returncode == 0, refetch.stderr
    after = run_zkiz("dedup", "--corpus", corpus, "--mode", "exact")
    assert jsonl(after.stdout) == [] and "refetched" in after.stderr.decode()


def test_head_on_dedup_and_export_exits_141(tmp_path):
    directory = tmp_path / "corpus"
    write_corpus(directory, make_set(700, seed=11).records)
    for command in (["dedup", "-q"], ["export"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "zkiz_corpus", *command, "--corpus", str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process.stdout.readline()
        process.stdout.close()  # as `| head -n 1` does
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 141, (command, stderr)
        assert stderr == b""


def test_a_stop_signal_never_cuts_a_line_of_export(tmp_path):
    directory = tmp_path / "corpus"
    write_corpus(directory, make_set(700, seed=11).records)
    process = subprocess.Popen(
        [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    got = bytearray(process.stdout.read(4096))  # it is writing: a slow reader
    process.send_signal(signal.SIGINT)
    while chunk := process.stdout.read1(4096):
        got += chunk
        time.sleep(0.01)  # 400 KB/s: a batch of 256 records takes longer than the grace
    process.wait(timeout=60)
    assert process.returncode == 130
    assert got.endswith(b"\n")
    assert all(json.loads(line)["id"] for line in got.splitlines())


def test_the_index_lock_follows_a_file_renamed_under_it(tmp_path, monkeypatch):
    import fcntl

    from zkiz_corpus import duplicates

    path = tmp_path / INDEX_FILE
    path.write_bytes(b"")
    real_flock, replaced = fcntl.flock, []

    def flock_after_a_swap(fd, operation):
        if not replaced:  # another run sets the file aside and a new one takes its place
            os.replace(path, tmp_path / "aside")
            path.write_bytes(b"")
            replaced.append(True)
        return real_flock(fd, operation)

    monkeypatch.setattr(duplicates.fcntl, "flock", flock_after_a_swap)
    fd = duplicates._lock_file(path)
    try:
        assert os.fstat(fd).st_ino == path.stat().st_ino
    finally:
        os.close(fd)


def test_no_rebuild_for_what_does_not_change_the_index(corpus):
    assert run_zkiz("dedup", "--corpus", str(corpus), "--threshold", "0.8", *KNOBS).returncode == 0
    exact = run_zkiz("export", "--corpus", str(corpus), "--dedup", "exact", "-o", os.devnull)
    assert exact.returncode == 0 and exact.stderr == b""  # exact duplicates use no threshold
    with sqlite3.connect(corpus / "state.sqlite3") as db:  # a corpus from before digests
        db.execute("UPDATE ids SET sha256 = NULL")
    assert run_zkiz("dedup", "--corpus", str(corpus), *KNOBS).returncode == 0
    again = run_zkiz("dedup", "--corpus", str(corpus), *KNOBS)
    assert "built afresh" not in again.stderr.decode()
    assert "(0 new to the index)" in again.stderr.decode()


def test_records_written_by_hand_do_not_stop_dedup_or_parquet(corpus, tmp_path):
    pytest.importorskip("pyarrow")
    odd = [
        {"id": 900001, "text_original": "孤\ud800" * 80, "title_original": "怪\ud800"},
        {"id": 900002, "text_original": "沒有摘要的紀錄" * 20, "title": 5},
        {"id": 900003, "text_original": "時間不對" * 20, "title_original": 5, "fetched_at": 5},
    ]
    with open(corpus / "records.jsonl", "a", encoding="utf-8") as records:
        for record in odd:
            records.write(json.dumps(record) + "\n")  # ASCII escapes: \ud800 is legal JSON
    Corpus(corpus).close()  # a writer takes in lines appended by hand
    done = run_zkiz("dedup", "--corpus", str(corpus), "-q")
    assert done.returncode == 0, done.stderr
    parquet = tmp_path / "all.parquet"
    done = run_zkiz("export", "--corpus", str(corpus), "-o", str(parquet))
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    rows = {row["id"]: row for row in pq.read_table(parquet).to_pylist()}
    assert rows[900001]["text_original"] == "孤\ufffd" * 80
    assert rows[900002]["title"] is None and rows[900002]["sha256"] is None
    assert rows[900003]["fetched_at"] is None
    for extra in (["--dedup", "near", "--mark-duplicates"], ["--convert", "s2hk"]):
        for target in ("-", str(tmp_path / "again.parquet")):
            done = run_zkiz("export", "--corpus", str(corpus), *extra, "-o", target)
            assert done.returncode == 0, (extra, target, done.stderr)
            if target == "-":
                by_id = {record["id"]: record for record in jsonl(done.stdout)}
                assert by_id[900001]["text_original"] == "孤\ud800" * 80  # as it was read


def test_a_line_appended_by_hand_in_place_of_a_record_is_noticed(tmp_path):
    _, corpus = two_short_posts_alike(tmp_path)
    assert jsonl(run_zkiz("dedup", "--corpus", str(corpus), "--mode", "exact", "-q").stdout)
    last = (corpus / "records.jsonl").read_bytes().splitlines(keepends=True)[-1]
    record = json.loads(last)
    assert record["id"] == 11
    record["title_original"] = "另一個標題"
    with open(corpus / "records.jsonl", "ab") as records:
        records.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    Corpus(corpus).close()  # taken in, in place of the record it repeats
    after = run_zkiz("dedup", "--corpus", str(corpus), "--mode", "exact")
    assert jsonl(after.stdout) == [] and "built afresh" in after.stderr.decode()


def test_stdout_sent_to_a_corpus_file_is_refused(corpus):
    before = (corpus / "records.jsonl").read_bytes()
    for command in (["export"], ["dedup"]):
        with open(corpus / "records.jsonl", "ab") as appended:  # zkiz export >> records.jsonl
            done = subprocess.run(
                [sys.executable, "-m", "zkiz_corpus", *command, "--corpus", str(corpus)],
                stdout=appended,
                stderr=subprocess.PIPE,
            )
        assert done.returncode == 2
        assert "stdout is the corpus's own records.jsonl" in done.stderr.decode()
    assert (corpus / "records.jsonl").read_bytes() == before
