"""Argument types the training scripts share: a bad value is argparse's one-line usage
error (exit 2), not a traceback from deep inside the work.

>>> import argparse
>>> ap = argparse.ArgumentParser()
>>> _ = ap.add_argument("--jobs", type=whole(1))
>>> ap.parse_args(["--jobs", "2"]).jobs
2
"""
from __future__ import annotations

import argparse
import math
from typing import Callable


def whole(lo: int) -> Callable[[str], int]:
    """An integer at least `lo`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {value}")
        return value
    return parse


def number(lo: float, hi: float = math.inf, *, above: bool = False) -> Callable[[str], float]:
    """A finite float in ``[lo, hi]`` (``(lo, hi]`` with `above`)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        low_ok = value > lo if above else value >= lo
        if not (math.isfinite(value) and low_ok and value <= hi):
            where = f"{'(' if above else '['}{lo:g}, {hi:g}]"
            raise argparse.ArgumentTypeError(f"must be in {where}, got {text}")
        return value
    return parse


def span(lo: float, hi: float = math.inf) -> Callable[[str], str]:
    """``A,B``: two numbers with ``lo <= A <= B <= hi``, kept as written (the scripts
    record their recipe's text)."""
    one = number(lo, hi)

    def parse(text: str) -> str:
        parts = text.split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected two numbers A,B, got {text!r}")
        a, b = one(parts[0]), one(parts[1])
        if a > b:
            raise argparse.ArgumentTypeError(f"{a:g} is above {b:g} in {text!r}")
        return text
    return parse
