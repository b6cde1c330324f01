"""Nothing a user has is ever lost: the corpus, its outputs and its lock under every
mishap a user, a full disk, a second process or a signal can bring."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import (
    ROOT,
    Archive,
    ArticleSpec,
    jsonl,
    kill9_after_requests,
    markup_div_br,
    numbered_pages,
    one_line_error,
    page,
    run_in_process,
    run_zkiz,
    without_write_rights,
)

FIRST, COUNT = 5000, 120


@pytest.fixture
def served():
    pages, article_ids = numbered_pages(FIRST, COUNT)
    with Archive(pages) as archive:
        archive.article_ids = article_ids
        yield archive


def fetch(archive, corpus, first=FIRST, count=COUNT, *extra, **kwargs):
    return run_zkiz(
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        str(first),
        "--count",
        str(count),
        "--base-url",
        archive.base_url,
        "--delay",
        "0",
        *extra,
        **kwargs,
    )


def start_fetch(archive, corpus, *extra, first=FIRST, count=COUNT, env=None, **popen):
    args = [sys.executable, "-m", "zkiz_corpus", "fetch", "--from-id", str(first)]
    args += ["--count", str(count), "--base-url", archive.base_url, "--delay", "0", "-q"]
    if corpus is not None:
        args += ["--corpus", str(corpus)]
    environment = {k: v for k, v in os.environ.items() if k != "ZKIZ_CORPUS"}
    return subprocess.Popen(
        [*args, *extra],
        stdout=popen.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        env={**environment, **(env or {})},
        **popen,
    )


def exported_ids(corpus) -> list[int]:
    done = run_in_process("export", "--corpus", str(corpus))
    assert done.returncode == 0, done.stderr
    return [record["id"] for record in jsonl(done.stdout)]


def file_ids(corpus) -> list[int]:
    return sorted(record["id"] for record in jsonl((corpus / "records.jsonl").read_bytes()))


def no_traceback(done) -> None:
    assert b"Traceback" not in done.stderr, done.stderr.decode()


# -- 1. a missing or empty state never wipes records.jsonl ---------------------------


@pytest.mark.parametrize("damage", ["deleted", "emptied", "copied into a new directory"])
def test_records_the_state_cannot_account_for_are_kept(served, tmp_path, damage):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    before = (corpus / "records.jsonl").read_bytes()
    if damage == "deleted":
        for state in corpus.glob("state.sqlite3*"):
            state.unlink()
    elif damage == "emptied":
        (corpus / "state.sqlite3").write_bytes(b"")
    else:
        corpus = tmp_path / "fresh"
        corpus.mkdir()
        exported = run_zkiz("export", "--corpus", str(tmp_path / "corpus")).stdout
        (corpus / "records.jsonl").write_bytes(exported)
    one_more = served.article_ids[-1] + 3
    served.pages[one_more] = page(markup_div_br([ArticleSpec(one_more, "新文章", ("正文",))]))
    done = fetch(served, corpus, one_more, 1)
    assert done.returncode == 0, done.stderr
    assert b"took" in done.stderr  # it says what it did
    assert file_ids(corpus) == [*served.article_ids, one_more]
    assert exported_ids(corpus) == [*served.article_ids, one_more]
    if damage != "copied into a new directory":
        assert (corpus / "records.jsonl").read_bytes().startswith(before)


def test_lines_appended_by_hand_are_taken_in_and_a_torn_one_set_aside(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, count=30).returncode == 0
    other = tmp_path / "other"
    assert fetch(served, other, FIRST + 60, 30).returncode == 0
    extra = (other / "records.jsonl").read_bytes()
    with open(corpus / "records.jsonl", "ab") as stream:
        stream.write(extra + b'{"id": 99, "title": "half a li')
    assert fetch(served, corpus, FIRST + 30, 1).returncode == 0
    expected = sorted({*file_ids(other), *[n for n in served.article_ids if n <= FIRST + 30]})
    assert exported_ids(corpus) == expected
    assert (corpus / "records.salvaged").read_bytes() == b'{"id": 99, "title": "half a li\n'


# -- 2. deleting a lock file never lets a second writer in ---------------------------


def test_a_deleted_lock_file_does_not_let_a_second_writer_in(served, tmp_path):
    corpus = tmp_path / "corpus"
    served.latency = 0.02
    first = start_fetch(served, corpus)
    deadline = time.monotonic() + 30
    while not (corpus / "state.sqlite3").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    for name in os.listdir(corpus):  # whatever a user might take for a stale lock
        if name.startswith(".") or name.endswith(".lock"):
            os.unlink(corpus / name)
    second = fetch(served, corpus, FIRST + COUNT, 20)
    assert second.returncode == 75
    assert "locked" in one_line_error(second)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert exported_ids(corpus) == file_ids(corpus) == served.article_ids


# -- 3. -o never loses what the corpus committed -------------------------------------


def test_an_interrupted_write_to_a_slow_reader_is_finished(served, tmp_path):
    """Unbuffered stdout, eight workers, a reader that has stopped reading: the signal
    lands while a write is blocked half way. Every line still arrives whole."""
    corpus = tmp_path / "corpus"
    process = start_fetch(
        served,
        corpus,
        "-o",
        "-",
        "--concurrency",
        "8",
        env={"PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while len(served.requests) < COUNT // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # the pipe is full by now and the writer blocked in it
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode in (130, 143), stderr
    printed = [record["id"] for record in jsonl(stdout)]  # every line whole JSON
    assert len(stdout) > 65536  # the pipe had been full
    assert sorted(printed) == exported_ids(corpus)


def test_output_to_a_full_device_is_one_line_and_the_run_can_be_exported(served, tmp_path):
    corpus = tmp_path / "corpus"
    done = fetch(served, corpus, FIRST, 40, "-o", "/dev/full")
    assert done.returncode == 1
    line = one_line_error(done)
    assert "cannot write /dev/full: no space left on device" in line
    assert "zkiz export --run 1" in line
    again = run_zkiz("export", "--corpus", str(corpus), "--run", "1")
    assert again.returncode == 0
    committed = [record["id"] for record in jsonl(again.stdout)]
    assert committed and committed == exported_ids(corpus)


def test_dash_o_appends_and_dash_big_o_overwrites(served, tmp_path):
    corpus = tmp_path / "corpus"
    out = tmp_path / "new" / "deeper" / "today.jsonl"  # parents do not exist yet
    assert fetch(served, corpus, FIRST, 30, "-o", str(out)).returncode == 0
    assert fetch(served, corpus, FIRST + 30, 30, "-o", str(out)).returncode == 0
    assert [r["id"] for r in jsonl(out.read_bytes())] == served.article_ids[:40]
    assert fetch(served, corpus, FIRST + 60, 30, "-O", str(out)).returncode == 0
    assert [r["id"] for r in jsonl(out.read_bytes())] == served.article_ids[40:60]
    both = fetch(served, corpus, FIRST, 1, "-o", str(out), "-O", str(out))
    assert both.returncode == 2
    assert "not both" in one_line_error(both)


def test_gzip_output_has_a_member_per_batch_and_reads_back_after_kill9(served, tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "out.jsonl.gz"
    served.latency = 0.01
    process = start_fetch(served, corpus, "-o", str(out))
    deadline = time.monotonic() + 30
    while len(served.requests) < COUNT // 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with gzip.open(out, "rb") as stream:  # no EOFError: every member is whole
        first = [record["id"] for record in jsonl(stream.read())]
    assert first
    assert fetch(served, corpus, FIRST, COUNT, "-o", str(out)).returncode == 0
    with gzip.open(out, "rb") as stream:
        union = [record["id"] for record in jsonl(stream.read())]
    assert sorted(union) == served.article_ids  # each once


def test_a_reader_that_leaves_is_counted_right(served, tmp_path):
    corpus = tmp_path / "corpus"
    process = start_fetch(served, corpus, "-o", "-", stdout=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `| head -n 1` does
    process.wait(timeout=60)
    assert process.returncode == 141
    with sqlite3.connect(corpus / "state.sqlite3") as db:
        committed = db.execute("SELECT count(*) FROM ids WHERE status = 'article'").fetchone()[0]
        reported = db.execute("SELECT articles FROM runs").fetchone()[0]
    assert reported == committed > 0


# -- 4. the README's cron line, as written, in bash and in dash ----------------------


def cron_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```cron\n", 1)[1].split("```", 1)[0]
    line = next(row for row in block.splitlines() if row and not row.startswith("#"))
    command = line.split(None, 5)[5]
    return command.replace("\\%", "%")  # what cron hands the shell


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_the_readme_cron_line_keeps_every_run_of_a_day(served, tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    home = tmp_path / "srv"
    (home / ".venv" / "bin").mkdir(parents=True)
    zkiz = home / ".venv" / "bin" / "zkiz"  # the installed command, pointed at the test site
    zkiz.write_text(
        f'#!/bin/sh\nexec {sys.executable} -m zkiz_corpus "$@" '
        '--base-url "$ZKIZ_TEST_BASE" --delay 0 --max-misses 30\n'
    )
    zkiz.chmod(0o755)
    command = cron_command().replace("/srv/zkiz", str(home))
    env = {"PATH": os.environ["PATH"], "ZKIZ_TEST_BASE": served.base_url}
    assert fetch(served, home / "corpus", FIRST, 30).returncode == 0  # the first start
    later = {n: served.pages.pop(n) for n in list(served.pages) if n >= FIRST + 60}
    subprocess.run([shell, "-c", command], env=env, timeout=120)
    served.pages.update(later)  # posts published after the first run of the day
    subprocess.run([shell, "-c", command], env=env, timeout=120)
    harvest = home / "new" / f"{time.strftime('%Y-%m-%d')}.jsonl"
    ids = [record["id"] for record in jsonl(harvest.read_bytes())]
    assert sorted(ids) == [n for n in served.article_ids if n >= FIRST + 30]
    assert len(set(ids)) == len(ids)
    log = (home / "cron.log").read_text()
    assert log.count(" exit 0\n") == 2, log
    holder = os.open(home / "corpus", os.O_RDONLY)  # another run holds the corpus
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        subprocess.run([shell, "-c", command], env=env, timeout=60)
    finally:
        os.close(holder)
    assert (home / "cron.log").read_text().endswith(" exit 75\n")  # not date's status


# -- 5. a kill at the compaction switch never shows readers a broken corpus ----------

KILLED_AT_SWITCH = """
import os, signal, sys
from zkiz_corpus import cli
moment, real_replace = os.environ["KILL_MOMENT"], os.replace
def replace(source, target, **dir_fds):
    if str(target).endswith("records.jsonl") and moment == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target, **dir_fds)
    if str(target).endswith("records.jsonl"):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
sys.argv[0] = "zkiz"
cli.main()
"""


@pytest.mark.parametrize("moment", ["before", "after"])
@pytest.mark.parametrize("same_length", [False, True])
def test_a_kill_at_the_compaction_switch_keeps_readers_right(tmp_path, moment, same_length):
    ids = list(range(9000, 9010))

    def pages(title: str, body: str) -> dict:
        return {n: page(markup_div_br([ArticleSpec(n, title, (body,))])) for n in ids}

    corpus = tmp_path / "corpus"
    with Archive(pages("舊標題", "舊" * 50)) as archive:
        assert fetch(archive, corpus, 9000, 10).returncode == 0
        archive.pages.update(pages("新標題", "新" * (50 if same_length else 80)))
        killed = subprocess.run(
            [
                *(sys.executable, "-c", KILLED_AT_SWITCH, "fetch", "--corpus", str(corpus)),
                *("--from-id", "9000", "--count", "10", "--refetch", "--delay", "0"),
                *("--base-url", archive.base_url),
            ],
            capture_output=True,
            env={**os.environ, "KILL_MOMENT": moment},
        )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    for _ in range(2):  # as the kill left it, then after a writer finished the switch
        exported = run_zkiz("export", "--corpus", str(corpus))
        no_traceback(exported)
        assert exported.returncode == 0, exported.stderr
        titles = {record["id"]: record["title_original"] for record in jsonl(exported.stdout)}
        assert titles == {n: "新標題" for n in ids}
        assert run_zkiz("verify", "--corpus", str(corpus)).returncode == 0
        assert run_zkiz("verify", "--corpus", str(corpus), "--repair").returncode == 0
    assert file_ids(corpus) == ids


# -- 6. a --source run never marks ids missing for live runs -------------------------


def test_a_source_run_does_not_poison_the_corpus_for_live_runs(served, tmp_path):
    corpus = tmp_path / "corpus"
    saved = tmp_path / "saved"
    saved.mkdir()
    held = served.article_ids[:5]
    for n in held:  # a folder holding only a few of the range's pages
        (saved / f"{n}.html").write_bytes(served.pages[n].body)
    done = run_zkiz(
        "fetch",
        "--from-id",
        str(FIRST),
        "--count",
        str(COUNT),
        "--source",
        str(saved),
        "-o",
        "-",
        env={"ZKIZ_CORPUS": str(corpus)},  # as a user with the variable exported
    )
    assert done.returncode == 0, done.stderr
    assert {record["id"] for record in jsonl(done.stdout)} >= set(held)
    live = fetch(served, corpus)
    assert live.returncode == 0, live.stderr
    assert exported_ids(corpus) == served.article_ids


# -- 8. a full disk is one line, the corpus stays consistent, nothing is lost --------


def limited_to(size: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


@pytest.mark.parametrize("limit", [30_000, 120_000, 400_000])
def test_a_file_size_limit_mid_crawl_is_one_line_and_loses_nothing(served, tmp_path, limit):
    """``ulimit -f`` makes the records, the state or the WARC hit the wall first,
    whichever grows past ``limit`` bytes; the rerun without it completes the corpus."""
    corpus = tmp_path / "corpus"
    args = [sys.executable, "-m", "zkiz_corpus", "fetch", "--corpus", str(corpus)]
    args += ["--from-id", str(FIRST), "--count", str(COUNT), "--base-url", served.base_url]
    args += ["--delay", "0", "--warc", str(tmp_path / "crawl.warc.gz"), "-o", "-"]
    done = subprocess.run(args, capture_output=True, preexec_fn=limited_to(limit), timeout=120)
    assert done.returncode == 1, done.stderr
    line = done.stderr.decode().strip().splitlines()
    assert len(line) == 1 and "cannot write" in line[0], line
    assert "file too large" in line[0] or "disk" in line[0] or "space" in line[0], line
    printed = [record["id"] for record in jsonl(done.stdout)]
    status = run_zkiz("status", "--corpus", str(corpus), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["articles"] == len(printed)  # reported == kept
    rerun = fetch(served, corpus, FIRST, COUNT, "-o", "-")
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(printed + [r["id"] for r in jsonl(rerun.stdout)]) == served.article_ids
    assert exported_ids(corpus) == file_ids(corpus) == served.article_ids


@pytest.mark.parametrize(
    "command", [["export"], ["status"], ["status", "--json"], ["schema"], ["export", "--run", "1"]]
)
def test_readers_writing_to_a_full_device_say_so_in_one_line(served, tmp_path, command):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    corpus_args = [] if command == ["schema"] else ["--corpus", str(corpus)]
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "zkiz_corpus", *command, *corpus_args],
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert lines == [lines[0]] and "no space left on device" in lines[0], lines


def test_export_to_a_full_device_leaves_the_earlier_file(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    out = tmp_path / "corpus.jsonl"
    assert run_zkiz("export", "--corpus", str(corpus), "-o", str(out)).returncode == 0
    before = out.read_bytes()
    assert fetch(served, corpus, FIRST + 30, 60).returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(corpus), "-o", str(out)],
        capture_output=True,
        preexec_fn=limited_to(len(before) + 100),
    )
    assert done.returncode == 1
    assert "cannot write" in one_line_error(done)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- 9. a damaged or read-only corpus never crashes a reader -------------------------


def damage(corpus: Path, how: str) -> None:
    records = corpus / "records.jsonl"
    if how == "records truncated":
        with open(records, "r+b") as stream:
            stream.truncate(records.stat().st_size - 500)
    elif how == "records deleted":
        records.unlink()
    elif how == "records made a directory":
        records.unlink()
        records.mkdir()
    elif how == "a byte flipped":
        data = bytearray(records.read_bytes())
        data[len(data) // 2] ^= 0x01
        records.write_bytes(bytes(data))
    elif how == "a state page overwritten":
        state = corpus / "state.sqlite3"
        data = bytearray(state.read_bytes())
        page_size = 4096
        data[page_size : 2 * page_size] = os.urandom(page_size)
        state.write_bytes(bytes(data))


DAMAGES = [
    "records truncated",
    "records deleted",
    "records made a directory",
    "a byte flipped",
    "a state page overwritten",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_damage_is_one_line_for_every_command_and_verify_repairs_it(served, tmp_path, how):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    damage(corpus, how)
    for command in (["status"], ["status", "--json"], ["export"], ["verify"]):
        done = run_in_process(*command, "--corpus", str(corpus))
        no_traceback(done)
        # status reads no record: a flipped byte inside one is for export and verify to see
        cheap = command[0] == "status" and how == "a byte flipped"
        assert done.returncode == (0 if cheap else 1), (command, done.stderr)
        assert done.stderr.decode().count("\n") <= 2, (command, done.stderr)
    exported = run_in_process("export", "--corpus", str(corpus))
    survivors = [record["id"] for record in jsonl(exported.stdout)]
    assert len(survivors) == len(set(survivors))
    refused = fetch(served, corpus, FIRST + COUNT, 5)
    no_traceback(refused)
    if refused.returncode != 0:
        assert refused.returncode == 1
        line = one_line_error(refused)
        assert "verify" in line or "is a directory" in line, line
    if how == "records made a directory":
        (corpus / "records.jsonl").rmdir()
    repaired = run_in_process("verify", "--corpus", str(corpus), "--repair")
    no_traceback(repaired)
    assert repaired.returncode == 0, repaired.stderr
    assert fetch(served, corpus).returncode == 0
    assert exported_ids(corpus) == served.article_ids
    assert run_in_process("verify", "--corpus", str(corpus)).returncode == 0


def test_a_read_only_corpus_can_be_read(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    # A killed writer leaves the database in WAL mode: the hardest case for a reader.
    served.latency = 0.01
    killed = start_fetch(served, corpus, first=FIRST + COUNT, count=400)
    kill9_after_requests(killed, served, 40)
    before = os.listdir(corpus)
    for entry in [corpus, *corpus.iterdir()]:
        entry.chmod(0o555 if entry.is_dir() else 0o444)
    try:
        assert not os.access(corpus, os.W_OK) or os.geteuid() == 0
        for command in (["status", "--json"], ["verify"], ["export"]):
            done = subprocess.run(
                without_write_rights(
                    [sys.executable, "-m", "zkiz_corpus", *command, "--corpus", str(corpus)]
                ),
                capture_output=True,
            )
            no_traceback(done)
            assert done.returncode == 0, (command, done.stderr)
        exported = [record["id"] for record in jsonl(done.stdout)]
        assert exported[: len(served.article_ids)] == served.article_ids
        assert sorted(os.listdir(corpus)) == sorted(before)  # nothing written
    finally:
        for entry in [corpus, *corpus.iterdir()]:
            entry.chmod(0o755 if entry.is_dir() else 0o644)


# -- signals at start-up: no traceback, 130/143 --------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_is_obeyed_without_a_traceback(served, tmp_path, signum):
    """From the moment the interpreter runs our code (it starts itself first: a signal
    inside its own start-up is its own affair), through our imports, to the command."""
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    bare = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.monotonic() - started)
    ours = 2 * sorted(bare)[1]
    for delay in (ours, ours + 0.05, ours + 0.1, ours + 0.2, ours + 0.4):
        process = subprocess.Popen(
            [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(corpus)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        assert b"Traceback" not in stderr, stderr.decode()
        assert process.returncode in (0, 128 + signum), (delay, process.returncode, stderr)
        assert stderr.count(b"\n") <= 1, stderr


# -- found by an outside attack on the above ------------------------------------------


def test_a_corpus_renamed_under_a_running_refetch_harms_no_other_corpus(served, tmp_path):
    corpus, moved = tmp_path / "corpus", tmp_path / "corpus.moved"
    assert fetch(served, corpus).returncode == 0
    served.latency = 0.01
    first = start_fetch(served, corpus, "--refetch")
    deadline = time.monotonic() + 30
    while len(served.requests) < COUNT + 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.rename(corpus, moved)
    served.latency = 0
    second = fetch(served, corpus, FIRST, 30)  # a new corpus under the old name
    assert second.returncode == 0, second.stderr
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert exported_ids(corpus) == file_ids(corpus) == served.article_ids[:20]
    assert exported_ids(moved) == file_ids(moved) == served.article_ids


def test_export_writes_into_devices_pipes_and_symlinks_without_replacing_them(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert run_zkiz("export", "--corpus", str(corpus), "-o", str(link)).returncode == 0
    assert link.is_symlink()
    assert [r["id"] for r in jsonl(real.read_bytes())] == served.article_ids[:20]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(corpus), "-o", str(fifo)]
    )
    with open(fifo, "rb") as reader:
        received = reader.read()
    assert process.wait(timeout=30) == 0
    assert [r["id"] for r in jsonl(received)] == served.article_ids[:20]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    if os.geteuid() == 0:  # a look-alike of /dev/null
        null = tmp_path / "null"
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        assert run_zkiz("export", "--corpus", str(corpus), "-o", str(null)).returncode == 0
        assert stat.S_ISCHR(null.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize("option", ["-o", "-O", "--warc"])
def test_an_output_onto_a_corpus_file_is_refused(served, tmp_path, option):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    before = (corpus / "records.jsonl").read_bytes()
    (tmp_path / "alias.jsonl").symlink_to(corpus / "records.jsonl")
    for target in (corpus / "records.jsonl", tmp_path / "alias.jsonl", corpus / "state.sqlite3"):
        done = fetch(served, corpus, FIRST + 30, 10, option, str(target))
        assert done.returncode == 2
        assert "corpus's own" in one_line_error(done)
    refused = run_zkiz("export", "--corpus", str(corpus), "-o", str(corpus / "records.jsonl"))
    assert refused.returncode == 2
    assert (corpus / "records.jsonl").read_bytes() == before


def test_records_appended_while_a_run_goes_are_taken_in(served, tmp_path):
    corpus, other = tmp_path / "corpus", tmp_path / "other"
    assert fetch(served, other, FIRST + 60, 60).returncode == 0
    foreign = (other / "records.jsonl").read_bytes()
    served.latency = 0.01
    started_at = len(served.requests)
    process = start_fetch(served, corpus, count=60)
    deadline = time.monotonic() + 30
    while len(served.requests) < started_at + 20 and time.monotonic() < deadline:
        time.sleep(0.005)
    with open(corpus / "records.jsonl", "ab") as stream:
        stream.write(foreign)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert exported_ids(corpus) == served.article_ids


def test_records_appended_after_a_kill9_are_taken_in(served, tmp_path):
    corpus, other = tmp_path / "corpus", tmp_path / "other"
    assert fetch(served, other, FIRST + 60, 60).returncode == 0
    served.latency = 0.01
    process = start_fetch(served, corpus, count=60)
    kill9_after_requests(process, served, 30)
    with open(corpus / "records.jsonl", "ab") as stream:
        stream.write((other / "records.jsonl").read_bytes())
    assert fetch(served, corpus, FIRST, 60).returncode == 0
    assert exported_ids(corpus) == served.article_ids


def test_a_state_older_than_its_records_cuts_nothing(served, tmp_path):
    """As after the write-ahead log of a killed run was deleted: the state is an older
    one, of a writer that died, naming no batch in flight; the records are kept."""
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    with sqlite3.connect(corpus / "state.sqlite3") as db:
        half = db.execute(
            "SELECT offset FROM ids WHERE status = 'article' ORDER BY offset LIMIT 1 OFFSET 40"
        ).fetchone()[0]
        db.execute("DELETE FROM ids WHERE offset >= ?", (half,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'committed_size'", (half,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('writer_open', 1)")
    assert fetch(served, corpus, FIRST + COUNT, 5).returncode == 0
    assert exported_ids(corpus) == served.article_ids


def test_a_fetch_waits_out_a_long_export(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    reader = subprocess.Popen(  # an export blocked on a full pipe, mid-transaction
        [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1)
    one_more = fetch(served, corpus, FIRST + COUNT, 5)
    stdout, _ = reader.communicate(timeout=60)
    assert one_more.returncode == 0, one_more.stderr
    assert reader.returncode == 0
    assert [record["id"] for record in jsonl(stdout)] == served.article_ids


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["export", "--run", "²"], 2, "not a run id"),
        (["export", "--run", "999"], 1, "no run 999"),
        (["fetch", "--from-id", str(2**63 - 1), "--count", "2"], 2, "past the highest id"),
    ],
)
def test_small_refusals_are_one_line(served, tmp_path, args, status, says):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 10).returncode == 0
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    done = run_zkiz(*args, "--corpus", str(corpus))
    assert done.returncode == status
    assert says in one_line_error(done)


def test_closed_stdout_and_stderr_are_no_crash(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 10).returncode == 0
    for command in (["export"], ["status"], ["fetch", "--from-id", str(FIRST), "-o", "-"]):
        done = subprocess.run(
            [sys.executable, "-m", "zkiz_corpus", *command, "--corpus", str(corpus)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(),
            preexec_fn=lambda: os.close(1),
        )
        assert done.returncode in (1, 2), (command, done.stderr)
        assert "stdout is closed" in done.stderr.decode()
        no_traceback(done)
    quiet = subprocess.run(
        [
            *(sys.executable, "-m", "zkiz_corpus", "fetch", "--corpus", str(corpus)),
            *("--from-id", str(FIRST), "--count", "30", "--base-url", served.base_url),
            *("--delay", "0"),
        ],
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(2),
    )
    assert quiet.returncode == 0
    assert exported_ids(corpus) == served.article_ids[:20]


def test_readers_errors_carry_the_prefix(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus).returncode == 0
    damage(corpus, "records truncated")
    for command in (["export"], ["status"]):
        done = run_zkiz(*command, "--corpus", str(corpus))
        assert done.returncode == 1
        assert all(line.startswith("zkiz: ") for line in done.stderr.decode().splitlines())


def test_records_appended_all_through_a_run_are_all_kept(served, tmp_path):
    """A second program appending whole records every few milliseconds while a crawl
    commits: every one of its records and every fetched one ends up in the corpus."""
    corpus, other = tmp_path / "corpus", tmp_path / "other"
    assert fetch(served, other, FIRST + 60, 60).returncode == 0
    foreign = (other / "records.jsonl").read_bytes().splitlines(keepends=True)
    served.latency = 0.005
    started_at = len(served.requests)
    process = start_fetch(served, corpus, count=60)
    while len(served.requests) < started_at + 3 and process.poll() is None:
        time.sleep(0.001)
    for line in foreign:
        descriptor = os.open(corpus / "records.jsonl", os.O_WRONLY | os.O_APPEND)
        os.write(descriptor, line)  # one write: an O_APPEND line lands whole
        os.close(descriptor)
        time.sleep(0.004)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert fetch(served, corpus, FIRST, 1).returncode == 0  # takes in what came last
    assert exported_ids(corpus) == served.article_ids
    assert run_zkiz("verify", "--corpus", str(corpus)).returncode == 0


def test_a_read_only_corpus_whose_log_cannot_be_read_says_so(served, tmp_path):
    corpus = tmp_path / "corpus"
    assert fetch(served, corpus, FIRST, 30).returncode == 0
    served.latency = 0.01
    killed = start_fetch(served, corpus, first=FIRST + 30, count=400)
    kill9_after_requests(killed, served, 40)
    assert (corpus / "state.sqlite3-wal").exists()
    (corpus / "state.sqlite3-shm").unlink(missing_ok=True)
    for entry in [corpus, *corpus.iterdir()]:
        entry.chmod(0o555 if entry.is_dir() else 0o444)
    try:
        for command in (["status"], ["export"]):
            done = subprocess.run(
                without_write_rights(
                    [sys.executable, "-m", "zkiz_corpus", *command, "--corpus", str(corpus)]
                ),
                capture_output=True,
            )
            assert done.returncode == 1, (command, done.stderr)
            assert "write-ahead log" in one_line_error(done) if command == ["status"] else True
            no_traceback(done)
    finally:
        for entry in [corpus, *corpus.iterdir()]:
            entry.chmod(0o755 if entry.is_dir() else 0o644)
