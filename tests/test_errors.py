"""core/errors.py's docstring draws the exception tree: it stays the truth, in the file's order."""

from __future__ import annotations

import inspect
import re

from core import errors


def test_the_docstring_tree_is_the_class_tree_in_file_order() -> None:
    assert errors.__doc__ is not None
    parents: dict[int, type] = {}
    drawn: list[type] = []
    for line in errors.__doc__.splitlines():
        found = re.match(r"^[ │├└─]*([A-Z]\w+)(?:\s|$)", line)
        if found is None or not hasattr(errors, found.group(1)):
            continue
        depth = (found.start(1) - 4) // 4  # the root is drawn at column 4, each level 4 further
        error = getattr(errors, found.group(1))
        if depth:
            assert error.__bases__ == (parents[depth - 1],), error
        parents[depth] = error
        drawn.append(error)
    defined = [
        member
        for _, member in inspect.getmembers(errors, inspect.isclass)
        if member.__module__ == errors.__name__ and issubclass(member, Exception)
    ]
    in_file_order = sorted(defined, key=lambda member: inspect.getsourcelines(member)[1])
    assert drawn == in_file_order
