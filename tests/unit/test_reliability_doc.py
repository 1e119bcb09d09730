"""docs/reliability.md names a test for every fault; this keeps those names true.

Each row of the fault matrix must cite at least one test, and every cited `file::test` must
exist (a name ending in "…" is a prefix), so a renamed or deleted test breaks the build
instead of leaving the document claiming a proof that is gone.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
CITED = re.compile(r"`((?:unit|workflow|infra|e2e|deploy)/[\w/]+\.py)(?:::([\w…\[\]\-, .]+))?`")


def _rows(table_heading: str) -> list[str]:
    text = DOC.read_text()
    start = text.index(table_heading)
    end = text.find("\n## ", start + 1)
    return [line for line in text[start:end if end > 0 else None].splitlines()
            if line.startswith("| ") and not line.startswith("| #") and not line.startswith("| Case")]


def _citations() -> list[tuple[str, str | None]]:
    return [match.groups() for match in CITED.finditer(DOC.read_text())]


def test_every_fault_of_the_matrix_has_a_row_and_each_row_cites_a_test():
    rows = _rows("## The fault matrix")
    numbers = [int(row.split("|")[1]) for row in rows]
    assert numbers == list(range(1, 35))
    for row in rows:
        assert CITED.search(row), f"row {row.split('|')[1].strip()} cites no test"


@pytest.mark.parametrize(("path", "name"), _citations(), ids=lambda value: value or "")
def test_every_cited_test_exists(path, name):
    source = ROOT / "tests" / path
    assert source.is_file(), f"{path} does not exist"
    if not name:
        return
    function = name.split("[")[0].strip()
    prefix = function.endswith("…")
    function = function.rstrip("…").rstrip("_")
    defined = re.findall(r"^(?:async )?def (test\w+)", source.read_text(), re.M)
    found = [d for d in defined if (d.startswith(function) if prefix else d == function)]
    assert found, f"{path} has no test {name}"
