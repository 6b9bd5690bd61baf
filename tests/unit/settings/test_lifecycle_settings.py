"""ES's index lifecycle settings, which real templates carry, are accepted and validated."""

from __future__ import annotations

import pytest

from isthmus.actions.indices import normalize_index_settings
from isthmus.errors import IsthmusError


def test_the_lifecycle_settings_of_real_templates_are_accepted() -> None:
    settings = normalize_index_settings(
        {
            "index": {
                "lifecycle": {"name": "logs", "rollover_alias": "logs-write"},
                "lifecycle.indexing_complete": "true",
                "lifecycle.origination_date": 1700000000000,
            }
        },
        creating=True,
    )
    assert settings["index.lifecycle.name"] == "logs"
    assert settings["index.lifecycle.rollover_alias"] == "logs-write"
    assert settings["index.lifecycle.indexing_complete"] == "true"


def test_a_bad_lifecycle_value_is_refused_as_es_refuses_it() -> None:
    with pytest.raises(IsthmusError) as info:
        normalize_index_settings({"index.lifecycle.indexing_complete": "maybe"}, creating=True)
    assert info.value.status == 400
    assert info.value.reason == (
        "Failed to parse value [maybe] as only [true] or [false] are allowed."
    )
