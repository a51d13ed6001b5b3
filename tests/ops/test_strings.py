"""String ops: StringConcat, StringSplit, StringNormalizer, RegexFullMatch."""

import fastinfer
import numpy as np
import pytest
from shape_util import run


def S(*v):
    """An object array of strings."""
    return np.array(v, dtype=object)


@pytest.mark.parametrize("a,b", [(S("a", "bc", ""), S("x", "y", "z")), (S("a", "b").reshape(2, 1), S("1", "2", "3")),
                                 (np.array("p", dtype=object), S("q", "r")), (S("é", "日本"), S("ß", "語"))])
def test_string_concat(a, b):
    got = run("StringConcat", {"a": a, "b": b}, opset=20)[0]
    ref = np.char.add(a.astype(str), b.astype(str)).astype(object)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def split_ref(x, delim, maxsplit):
    """Python str.split semantics, padded with empty strings."""
    parts = [s.split(delim or None, -1 if maxsplit is None else maxsplit) for s in x.reshape(-1)]
    width = max((len(p) for p in parts), default=0)
    y = np.array([p + [""] * (width - len(p)) for p in parts], dtype=object).reshape(x.shape + (width,))
    z = np.array([len(p) for p in parts], np.int64).reshape(x.shape)
    return y, z


@pytest.mark.parametrize("delim", [None, "", ",", "ab"])
@pytest.mark.parametrize("maxsplit", [None, 0, 1, 5])
def test_string_split(delim, maxsplit):
    x = S("a,b,,c", "  hello   world  ", "", "xabyabz", ",", "one").reshape(2, 3)
    attrs = {}
    if delim is not None:
        attrs["delimiter"] = delim
    if maxsplit is not None:
        attrs["maxsplit"] = maxsplit
    y, z = run("StringSplit", {"x": x}, attrs, n_outputs=2, opset=20)
    ry, rz = split_ref(x, delim, maxsplit)
    assert y.shape == ry.shape
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(z, rz)


def test_string_split_empty():
    y, z = run("StringSplit", {"x": np.zeros((0,), dtype=object)}, n_outputs=2, opset=20)
    assert y.shape == (0, 0) and z.shape == (0,)


@pytest.mark.parametrize("action", ["NONE", "LOWER", "UPPER"])
@pytest.mark.parametrize("sensitive", [0, 1])
@pytest.mark.parametrize("twodim", [False, True])
def test_string_normalizer(action, sensitive, twodim):
    words = ["Monday", "tuesday", "MONDAY", "Wed", "monday"]
    x = S(*words)
    if twodim:
        x = x.reshape(1, -1)
    stop = ["monday", "wed"]
    got = run("StringNormalizer", {"x": x},
              {"case_change_action": action, "is_case_sensitive": sensitive, "stopwords": stop}, opset=10)[0]
    kept = [w for w in words if (w if sensitive else w.lower()) not in stop]
    kept = [w.lower() if action == "LOWER" else w.upper() if action == "UPPER" else w for w in kept]
    ref = S(*kept).reshape((1, -1) if twodim else (-1,))
    assert got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


def test_string_normalizer_all_removed_and_errors():
    got = run("StringNormalizer", {"x": S("a", "A")}, {"stopwords": ["a"]}, opset=10)[0]
    np.testing.assert_array_equal(got, S(""))
    with pytest.raises(fastinfer.InvalidArgument):
        run("StringNormalizer", {"x": S("a", "b", "c", "d").reshape(2, 2)}, opset=10)


@pytest.mark.parametrize("pattern,strings", [
    (r"(\W|^)[\w.\-]{0,25}@(yahoo|gmail)\.com(\W|$)", ["account@gmail.com", "x@hotmail.com", "a2@yahoo.com"]),
    (r"\d+", ["123", "12a", ""]), ("", ["", "a"]), (r"(?i)abc", ["ABC", "aBc", "abd"]), ("a|b", ["a", "ab"]),
])
def test_regex_full_match(pattern, strings):
    import re

    x = S(*strings)
    got = run("RegexFullMatch", {"x": x}, {"pattern": pattern}, opset=20)[0]
    np.testing.assert_array_equal(got, np.array([re.fullmatch(pattern, s) is not None for s in strings]))


def test_regex_errors():
    with pytest.raises(fastinfer.InvalidModel):
        run("RegexFullMatch", {"x": S("a")}, {"pattern": "(unclosed"}, opset=20)
    with pytest.raises(fastinfer.NotImplemented):
        run("RegexFullMatch", {"x": S("a" * ((1 << 22) + 1))}, {"pattern": "a*"}, opset=20)
    with pytest.raises(fastinfer.InvalidModel):  # back-references are not RE2
        run("RegexFullMatch", {"x": S("aa")}, {"pattern": r"(a)\1"}, opset=20)


def test_regex_no_exponential_backtracking():
    got = run("RegexFullMatch", {"x": S("a" * 5000, "a" * 40 + "b")}, {"pattern": "(a*)*b"}, opset=20)[0]
    np.testing.assert_array_equal(got, [False, True])
