"""docs/configuration.md's settings tables are generated from the declarations, and current."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core.config.reference import DOCS_PAGE, StaleDocs, blocks, main, render
from appliance.core.config.schema import walk_settings
from appliance.core.config.settings import ApplianceConfig, SenderConfig

STALE_HINT = "python -m appliance.core.config.reference --write"


def test_the_committed_page_is_current() -> None:
    page = DOCS_PAGE.read_text(encoding="utf-8")
    assert render(page) == page, f"docs/configuration.md is stale: run `{STALE_HINT}`"


@pytest.mark.parametrize(("program", "cls"), [("appliance.toml", ApplianceConfig),
                                              ("sender.toml", SenderConfig)])
def test_every_setting_has_a_row_in_its_sections_table(program: str, cls: type) -> None:
    generated = blocks()
    for setting in walk_settings(cls):
        section, _, key = setting.key.partition(".")
        assert f"| `{key}` |" in generated[f"{program} [{section}]"], setting.key


def test_a_changed_table_is_rewritten_and_the_prose_kept(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    current = DOCS_PAGE.read_text(encoding="utf-8")
    stale = current.replace("| `port` | integer 1–65535 |", "| `port` | integer |", 1)
    assert stale != current
    page.write_text(stale, encoding="utf-8")

    assert main([str(page)]) == 1
    assert page.read_text(encoding="utf-8") == stale  # a check never writes
    assert main(["--write", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == current
    assert main([str(page)]) == 0


def test_a_missing_block_is_named_with_the_markers_to_add() -> None:
    page = DOCS_PAGE.read_text(encoding="utf-8").replace(
        "<!-- BEGIN GENERATED: sender.toml [push] -->", "", 1)

    with pytest.raises(StaleDocs) as caught:
        render(page)
    assert "<!-- BEGIN GENERATED: sender.toml [push] -->" in str(caught.value)


def test_a_block_for_a_section_that_no_longer_exists_is_refused() -> None:
    page = DOCS_PAGE.read_text(encoding="utf-8") + (
        "<!-- BEGIN GENERATED: appliance.toml [gone] -->\n"
        "<!-- END GENERATED: appliance.toml [gone] -->\n")

    with pytest.raises(StaleDocs, match=r"'appliance.toml \[gone\]' matches no setting"):
        render(page)
