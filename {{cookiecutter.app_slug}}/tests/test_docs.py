"""Docs stay true: every setting is documented in the README table and in .env.example, every
record field in the README's output section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic.fields import FieldInfo

from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.sources import records

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = list(Settings.model_fields.items())


def readme_table() -> dict[str, str]:
    """``VARIABLE -> default cell`` from the README's configuration table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z_<>]+)` \| ([^|]*) \|", section, re.M)}


@pytest.mark.parametrize(("name", "field"), SETTINGS, ids=[name.upper() for name, _ in SETTINGS])
def test_setting_is_in_the_readme_table_with_its_default(name: str, field: FieldInfo) -> None:
    name, default = name.upper(), field.default
    table = readme_table()
    assert name in table, f"README configuration table lacks {name}"
    if default is not None:
        shown = table[name].strip().strip("`")
        allowed = {str(default)}
        if isinstance(default, float) and default.is_integer():
            allowed.add(str(int(default)))  # the README writes 30, not 30.0
        assert shown in allowed, f"README says {name} defaults to {shown!r}, config.py says {default!r}"


@pytest.mark.parametrize(("name", "field"), SETTINGS, ids=[name.upper() for name, _ in SETTINGS])
def test_setting_is_in_env_example(name: str, field: FieldInfo) -> None:
    name = name.upper()
    text = (ROOT / ".env.example").read_text()
    assert re.search(rf"^#?\s*{name}=", text, re.M), f".env.example lacks {name}"


# One record of each SQL kind, built as the readers build them.
SAMPLE_RECORDS = [
    records.schema("db", "s"),
    records.table("db", "s", "t", "table", None, None),
    records.column("db", "s", "t", 1, "c", "INTEGER", True, None, None),
    records.primary_key("db", "s", "t", "pk", ["c"]),
    records.foreign_key("db", "s", "t", {"name": "fk", "constrained_columns": ["c"], "referred_table": "u",
                                         "referred_columns": ["c"]}, "s"),
    records.unique_constraint("db", "s", "t", "uq", ["c"]),
    records.index("db", "s", "t", {"name": "ix", "column_names": ["c"]}),
]


@pytest.mark.parametrize("record", SAMPLE_RECORDS, ids=lambda r: r["kind"])
def test_every_record_field_is_in_the_readme_output_section(record: dict[str, Any]) -> None:
    section = (ROOT / "README.md").read_text().split("## Output", 1)[1].split("\n## ", 1)[0]
    row = re.search(rf"^\s*\| `{record['kind']}` \| (.*) \|$", section, re.M)
    assert row, f"README output section lacks a row for {record['kind']}"
    fields_only = row.group(1)
    while (shorter := re.sub(r"\([^()]*\)", "", fields_only)) != fields_only:  # drop the notes in parentheses
        fields_only = shorter
    documented = set(re.findall(r"`(\w+)`", fields_only))
    assert documented == set(record) - {"kind", "qualified_name"}, row.group(1)
