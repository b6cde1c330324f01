"""OpenCC conversion: upstream OpenCC's own test cases, and the fallback backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zkiz_corpus.converting import (
    ConversionError,
    available_configs,
    backend,
    make_converter,
    normalise_config,
)

CASES = json.loads((Path(__file__).parent / "fixtures" / "opencc_testcases.json").read_text())


def upstream_cases(config: str) -> list[tuple[str, str]]:
    return [
        (case["input"], case["expected"][config])
        for case in CASES["cases"]
        if config in case["expected"]
    ]


@pytest.mark.parametrize("config", ["t2s", "hk2s"])
def test_upstream_opencc_cases(config):
    """The native backend must match upstream's expectations (>= 95%); the fallback,
    which is known to be weaker, must still convert the common characters."""
    cases = upstream_cases(config)
    assert len(cases) >= 20
    convert = make_converter(config)
    passed = sum(convert(given) == expected for given, expected in cases)
    if backend() == "native":
        assert passed / len(cases) >= 0.95, f"{passed}/{len(cases)}"
    else:
        assert passed / len(cases) >= 0.4, f"{passed}/{len(cases)}"


def test_seed_text_to_simplified():
    assert make_converter("t2s")("習近平:核心技術是國之重器") == "习近平:核心技术是国之重器"
    assert make_converter("hk2s")("呢啲嘢係咪真係咁重要") == "呢啲嘢系咪真系咁重要"


def test_none_is_identity_and_names_normalise():
    assert make_converter("none")("國") == "國"
    assert normalise_config("T2S.json") == "t2s"
    assert make_converter("T2S.json")("國") == "国"


def test_every_available_config_loads():
    configs = available_configs()
    assert {"t2s", "hk2s", "s2t", "s2hk", "t2hk", "tw2s"} <= set(configs)
    for config in configs:
        assert isinstance(make_converter(config)("國家"), str)


def test_unknown_config_is_refused_with_the_choices():
    with pytest.raises(ConversionError, match=r"unknown OpenCC configuration 'x2y'.*t2s"):
        make_converter("x2y")
