"""The resilient section of _compat against the installed Hypothesis."""

from __future__ import annotations

from hypothesis.database import (
    BackgroundWriteDatabase,
    DirectoryBasedExampleDatabase,
    InMemoryExampleDatabase,
)

from hypofuzz_nb import _compat

KEY = b"k" * 48


def test_background_write_inner():
    inner = InMemoryExampleDatabase()
    assert _compat.resilient_background_write_inner(BackgroundWriteDatabase(inner)) is inner


def test_directory_has_value_sees_value_file_and_key_list(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path)
    assert not _compat.resilient_directory_has_value(db, KEY, b"v")
    db.save(KEY, b"v")
    assert _compat.resilient_directory_has_value(db, KEY, b"v")
    assert not _compat.resilient_directory_has_value(db, KEY, b"other")
    # The key missing from the key list (as after a concurrent delete) counts as not written.
    db.delete(DirectoryBasedExampleDatabase._metakeys_name, KEY)
    assert not _compat.resilient_directory_has_value(db, KEY, b"v")
    meta = DirectoryBasedExampleDatabase._metakeys_name
    assert _compat.resilient_directory_has_value(db, meta, KEY) is False
    db.save(meta, KEY)
    assert _compat.resilient_directory_has_value(db, meta, KEY)


def test_directory_delete_value_keeps_the_key_directory(tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path)
    db.save(KEY, b"v")
    _compat.resilient_directory_delete_value(db, KEY, b"v")
    _compat.resilient_directory_delete_value(db, KEY, b"never saved")  # no error
    assert list(db.fetch(KEY)) == []
    assert KEY in set(db.fetch(DirectoryBasedExampleDatabase._metakeys_name))
    assert sum(1 for p in tmp_path.iterdir() if p.is_dir()) == 2  # the key and the key list


def test_directory_probe_write_names_the_os_error(tmp_path):
    assert (
        _compat.resilient_directory_probe_write(DirectoryBasedExampleDatabase(tmp_path), KEY)
        is None
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = _compat.resilient_directory_probe_write(
        DirectoryBasedExampleDatabase(blocker / "db"), KEY
    )
    assert "Not a directory" in problem
    assert str(blocker) in problem
