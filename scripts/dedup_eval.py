"""How well duplicate reposts are found: recall and precision of duplicate pairs on a
generated set of reposts (``tests/bench/reposts.py``), at one threshold or several.

    python -m scripts.dedup_eval                       # the default threshold
    python -m scripts.dedup_eval --thresholds 0.5,0.6,0.7,0.8 --stories 800

The set's records go into a corpus in a temporary directory, as a crawl writes them;
``zkiz dedup``'s own code then clusters them. A pair of records is a true duplicate
when both tell one story; a found one when they fall in one cluster. Recall: true pairs
found / true pairs; precision: true pairs found / pairs found. Per kind of change,
the share of copies put in their story's cluster.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.bench.reposts import CHANGES, make_set, score, write_corpus
from zkiz_corpus.duplicates import (
    DEFAULT_THRESHOLD,
    INDEX_FILE,
    DedupIndex,
    Mode,
    find_duplicates,
)


def clusters_of(directory: Path, threshold: float, mode: Mode) -> dict[int, int]:
    """Each record's cluster (the id it keeps), from the index ``zkiz dedup`` builds."""
    find_duplicates(directory, str(directory / "clusters.jsonl"), mode=mode, threshold=threshold)
    with DedupIndex(directory / INDEX_FILE, threshold) as index:
        return dict(index.verdicts(mode))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dedup_eval", description=__doc__)
    parser.add_argument("--stories", type=int, default=600, help="distinct articles")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--thresholds", default=str(DEFAULT_THRESHOLD), help="comma-separated, (0, 1]"
    )
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.NEAR.value)
    args = parser.parse_args(argv)
    reposts = make_set(args.stories, args.seed)
    copies = sum(1 for changes in reposts.changes_of.values() if changes)
    print(
        f"{len(reposts.records)} records: {args.stories} stories, {copies} reposts of them; "
        f"{len(reposts.duplicate_pairs())} duplicate pairs"
    )
    print(f"| threshold | recall | precision | pairs found | {' | '.join(CHANGES)} |")
    print("| ---: | ---: | ---: | ---: |" + " ---: |" * len(CHANGES))
    with tempfile.TemporaryDirectory(prefix="zkiz-dedup-eval-") as scratch:
        directory = Path(scratch) / "corpus"
        write_corpus(directory, reposts.records)
        failed = False
        for threshold in (float(t) for t in args.thresholds.split(",")):
            result = score(reposts, clusters_of(directory, threshold, Mode(args.mode)))
            shares = result["by_change"]
            changes = " | ".join(f"{shares.get(change, 1.0):.3f}" for change in CHANGES)
            print(
                f"| {threshold:g} | {result['recall']:.3f} | {result['precision']:.3f} | "
                f"{result['found_pairs']} | {changes} |",
                flush=True,
            )
            if threshold == DEFAULT_THRESHOLD:
                failed = result["recall"] < 0.95 or result["precision"] < 0.99
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
