"""A process stopped by an error says so loudly, without the error's text (it can carry PHI)."""

from __future__ import annotations

import argparse
import logging

import psycopg
import pytest

from vigil import cli
from vigil.settings import Settings

PHI = "Key (patient_id)=(Jane Doe 1961-04-02) already exists"


def test_an_error_that_stops_a_command_is_logged_without_its_text(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(args: argparse.Namespace, settings: Settings) -> int:
        raise psycopg.errors.UniqueViolation(PHI)

    monkeypatch.setattr(cli, "cmd_check_config", failing)
    with caplog.at_level(logging.CRITICAL, logger="vigil"):
        assert cli.main(["check-config"]) == 1
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "UniqueViolation" in record.getMessage()
    assert "failing" in record.getMessage()  # the frames: where it was raised
    out, err = capsys.readouterr()
    for text in (caplog.text, out, err):
        assert "Jane Doe" not in text


def test_a_database_that_refuses_the_connection_gets_a_hint(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(args: argparse.Namespace, settings: Settings) -> int:
        raise psycopg.OperationalError("fe_sendauth: no password supplied")

    monkeypatch.setattr(cli, "cmd_check_config", refused)
    with caplog.at_level(logging.CRITICAL, logger="vigil"):
        assert cli.main(["check-config"]) == 1
    assert "services.env" in caplog.text and "bin/vigil services up postgres" in caplog.text
