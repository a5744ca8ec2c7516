"""One reader for the small JSON files of a model folder or a run: every failure names the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.io.json_files import read_json_object


def test_reads_an_object(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"k": [1, 2]}')
    assert read_json_object(path) == {"k": [1, 2]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, found list"),
        (b"\xff\xfe", "cannot be read"),
    ],
)
def test_failures_name_the_file_and_raise_the_callers_error(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message) as caught:
        read_json_object(path, InvalidInputError)
    assert str(path) in str(caught.value)
    with pytest.raises(ResourceError, match=message):
        read_json_object(path)
