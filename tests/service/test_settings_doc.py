"""docs/configuration.md is generated from the Settings field descriptions; a stale page fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, create_model

from service import settings_doc
from service.settings import ApiKeySpec, Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_configuration_page_is_current():
    assert PAGE.exists(), f"{PAGE.name} is missing: run `{settings_doc.FIX_COMMAND}` and commit it"
    assert PAGE.read_text(encoding="utf-8") == settings_doc.render(), (
        f"docs/configuration.md is stale (a Settings field changed): run `{settings_doc.FIX_COMMAND}` and commit it"
    )


def test_every_setting_is_documented_with_name_type_and_default():
    text = settings_doc.render()
    for name, field in [*Settings.model_fields.items(), *ApiKeySpec.model_fields.items()]:
        assert field.description, f"{name} needs a Field description: it is the documentation"
    assert "| `QUARRY_CHUNK_SIZE` | integer, 8..8192 | `200` | chunk size in embedder tokens" in text
    assert "| `QUARRY_DTYPE` | one of `auto`, `float32`, `float16`, `bfloat16` | `auto` |" in text
    assert "| `QUARRY_BATCH_SIZE` | integer, optional, 1..4096 | unset |" in text
    assert "| `scope` | one of `read`, `write`, `admin`, `metrics` | required |" in text


def test_a_field_without_description_is_refused():
    bare = create_model("Bare", plain=(int, 3), described=(int, Field(4, description="four")))
    with pytest.raises(ValueError, match="Bare.plain has no description"):
        settings_doc._rows(bare, str)


def test_check_fails_on_a_stale_page_and_names_the_fix(tmp_path, capsys):
    page = tmp_path / "configuration.md"
    assert settings_doc.main(["--check", "--output", str(page)]) == 1  # missing
    assert settings_doc.main(["--output", str(page)]) == 0
    assert settings_doc.main(["--check", "--output", str(page)]) == 0
    page.write_text(page.read_text(encoding="utf-8").replace("chunk size in embedder tokens", "old words"))
    capsys.readouterr()
    assert settings_doc.main(["--check", "--output", str(page)]) == 1
    assert "run `make docs`" in capsys.readouterr().err


def test_sections_follow_the_settings_fields(monkeypatch):
    text = settings_doc.render()
    assert text.index("## Models and devices") < text.index("`QUARRY_DATA_DIR`") < text.index("## Chunking")
    assert text.index("## Retrieval quality") < text.index("`QUARRY_RERANK_WEIGHT`") < text.index("## API key entries")
    monkeypatch.setattr(settings_doc, "SECTIONS", [*settings_doc.SECTIONS, ("Gone", "no_such_field", "x.md")])
    with pytest.raises(ValueError, match="'no_such_field', which is not a Settings field"):
        settings_doc.render()
