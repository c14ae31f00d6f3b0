from hypothesis import given
from hypothesis import strategies as st


def merge_sort(xs: list) -> list:
    if len(xs) <= 1:
        return list(xs)
    mid = len(xs) // 2
    left, right = merge_sort(xs[:mid]), merge_sort(xs[mid:])
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            out.append(right[j])
            j += 1
        else:
            out.append(left[i])
            i += 1
    return out + left[i:] + right[j:]


@given(st.lists(st.integers()))
def test_merge_sort_agrees_with_sorted(xs):
    assert merge_sort(xs) == sorted(xs)


@given(st.lists(st.text(max_size=5)))
def test_merge_sort_is_idempotent(xs):
    once = merge_sort(xs)
    assert merge_sort(once) == once
