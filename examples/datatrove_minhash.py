"""Near-duplicate removal past one machine: datatrove's MinHash pipeline over zkiz's
Parquet shards. Runs here as is (LocalPipelineExecutor); the same four stages run on a
cluster with datatrove's SlurmPipelineExecutor or RayPipelineExecutor.

    pip install 'datatrove[processing]' spacy jieba     # Chinese words for its shingles
    python examples/datatrove_minhash.py shards/ work/  # -> work/deduplicated/*.parquet

``shards/`` holds ``zkiz export -o shards/NAME.parquet`` files (README, "Past one
machine"). datatrove shingles words (Chinese cut by jieba through spaCy), where
``zkiz dedup`` shingles characters: its clusters are close to, not the same as, zkiz's.
"""

from __future__ import annotations

import sys

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
)
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.hashing import HashConfig

TASKS = 4  # files of signatures: up to one a shard


def main(shards: str, work: str) -> None:
    config = MinhashConfig(
        hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8
    )

    def read():
        # text_original: the words as published; zkiz's id becomes the document id.
        return ParquetReader(shards, text_key="text_original", id_key="id")

    stages = [
        [read(), MinhashDedupSignature(f"{work}/signatures", config=config, language="zh")],
        [MinhashDedupBuckets(f"{work}/signatures", f"{work}/buckets", config=config)],
        [MinhashDedupCluster(f"{work}/buckets", f"{work}/remove_ids", config=config)],
        [
            read(),
            MinhashDedupFilter(f"{work}/remove_ids"),
            ParquetWriter(f"{work}/deduplicated"),
        ],
    ]
    tasks = [TASKS, config.num_buckets, 1, TASKS]
    for number, (pipeline, count) in enumerate(zip(stages, tasks)):
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=count, logging_dir=f"{work}/logs/stage{number}"
        ).run()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python examples/datatrove_minhash.py SHARDS_DIR WORK_DIR")
    main(sys.argv[1], sys.argv[2])
