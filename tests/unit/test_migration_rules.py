"""The migration runner's ordering rules (vigil.migrate.pending, read_migrations): plain data."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.migrate import MIGRATIONS_DIR, Migration, MigrationError, pending, read_migrations


def m(name: str, sql: str = "SELECT 1;") -> Migration:
    return Migration(name, name.split("_")[0], sql)


FILES = [m("0001_core.sql"), m("0001a_fix.sql"), m("0002_more.sql"), m("0003_last.sql")]


def done(*names: str) -> dict[str, str]:
    return {x.name: x.sha256 for x in FILES if x.name in names}


def names(ms: list[Migration]) -> list[str]:
    return [x.name for x in ms]


def test_a_fresh_database_applies_everything_in_order() -> None:
    assert names(pending(FILES, {})) == [x.name for x in FILES]


def test_a_database_at_0001_runs_the_repair_before_0002() -> None:
    assert names(pending(FILES, done("0001_core.sql"))) == names(FILES[1:])


def test_a_database_past_the_repair_applies_it_out_of_order() -> None:
    before = done("0001_core.sql", "0002_more.sql")
    assert names(pending(FILES, before)) == ["0001a_fix.sql", "0003_last.sql"]


def test_a_plain_migration_below_the_newest_applied_is_refused() -> None:
    with pytest.raises(MigrationError, match="renumber it after 0003"):
        pending(FILES, done("0001_core.sql", "0001a_fix.sql", "0003_last.sql"))


def test_an_edited_migration_is_refused() -> None:
    edited = {**done("0001_core.sql"), "0001a_fix.sql": "0" * 64}
    with pytest.raises(MigrationError, match=r"0001a_fix\.sql was edited"):
        pending(FILES, edited)


def test_repairs_sort_between_their_neighbours() -> None:
    found = [x.version for x in read_migrations(MIGRATIONS_DIR)]
    assert found == sorted(found)
    assert found.index("0001a") == found.index("0001") + 1


@pytest.mark.parametrize("name", ["0005-x.sql", "0005A_x.sql", "0005ab_x.sql", "0005_.sql"])
def test_a_misnamed_file_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        read_migrations(tmp_path)


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    for name in ("0005_a.sql", "0005_b.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share a version"):
        read_migrations(tmp_path)
