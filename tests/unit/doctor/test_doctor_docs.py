"""docs/doctor.md documents every cause code of isthmus.doctor.causes, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from isthmus.doctor.causes import BY_CODE, CAUSES

DOCS = Path(__file__).parents[3] / "docs" / "doctor.md"


def _documented() -> list[str]:
    return re.findall(r"^#### `([a-z0-9_]+)`$", DOCS.read_text(encoding="utf-8"), re.M)


def test_every_cause_is_documented_once_and_nothing_else() -> None:
    documented = _documented()
    assert sorted(set(BY_CODE) - set(documented)) == [], (
        "causes without a section in docs/doctor.md"
    )
    assert sorted(set(documented) - set(BY_CODE)) == [], "sections for codes that do not exist"
    assert len(documented) == len(set(documented)), "a code documented twice"


def test_each_section_has_meaning_recognition_and_fix() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in BY_CODE:
        section = text.split(f"#### `{code}`", 1)[1].split("\n#### ", 1)[0].split("\n### ", 1)[0]
        for part in ("**Meaning:**", "**Recognised by:**", "**Fix:**"):
            assert part in section, f"{code}: no {part}"


def test_sections_follow_the_stage_order() -> None:
    stages = [BY_CODE[c].stage.order for c in _documented()]
    assert stages == sorted(stages)
    assert len(stages) == len(CAUSES)
