"""Vector arithmetic expressions: "king - man + woman", with quoted phrases as operands."""

from __future__ import annotations

import re

import numpy as np

from storage.errors import UserError

_TOKEN = re.compile(r"""\s*(?:(?P<sign>[+-])|"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'"""
                    r"""|(?P<word>[^\s+\-"']+(?:\s+[^\s+\-"']+)*))""")


class ExpressionError(UserError, ValueError):
    """An arithmetic expression that cannot be read."""


def parse_expression(text: str) -> list[tuple[int, str]]:
    """[(+1, 'king'), (-1, 'man'), (+1, 'woman')]; unquoted words between signs form one phrase."""
    terms: list[tuple[int, str]] = []
    sign, pos, expecting_term = 1, 0, True
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in expression {text!r}")
        pos = match.end()
        if match.group("sign"):
            if not expecting_term and terms:
                sign, expecting_term = (1 if match.group("sign") == "+" else -1), True
            elif not terms:
                sign = -1 if match.group("sign") == "-" else 1
            else:
                raise ExpressionError(f"two operators in a row in {text!r}")
            continue
        phrase = next(g for g in (match.group("dq"), match.group("sq"), match.group("word")) if g is not None)
        if not expecting_term:
            raise ExpressionError(f"missing + or - before {phrase!r} in {text!r}")
        if not phrase.strip():
            raise ExpressionError(f"empty operand in {text!r}")
        terms.append((sign, phrase.strip()))
        sign, expecting_term = 1, False
    if not terms or expecting_term:
        raise ExpressionError(f"expression {text!r} must end with an operand")
    return terms


def combine(vectors: np.ndarray, signs: list[int]) -> np.ndarray:
    """Signed sum of unit vectors, normalized: the analogy's target direction."""
    total = np.asarray(signs, dtype=np.float64)[:, None] * vectors.astype(np.float64)
    target = total.sum(axis=0)
    norm = np.linalg.norm(target)
    if norm < 1e-9:
        raise ExpressionError("the operands cancel out: the expression has no direction")
    return (target / norm).astype(np.float32)
