import contextlib

from hypothesis import given
from hypothesis import strategies as st


def encode(text):
    return text.encode("utf-8")


def test_encode_ascii():
    assert encode("abc") == b"abc"


@given(st.text())
def test_roundtrip(text):
    assert encode(text).decode("utf-8") == text


@given(st.binary())
def test_decode_or_error(data):
    with contextlib.suppress(UnicodeDecodeError):
        data.decode("utf-8")
