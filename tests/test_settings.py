"""Settings: typed, validated, from ADAPTRADE_* variables; bad values are clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adaptrade.errors import ConfigError
from adaptrade.settings import Settings, load_settings


def test_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_COMMISSION_BPS", "2.5")
    assert load_settings().commission_bps == 2.5
    assert load_settings(commission_bps=0.0).commission_bps == 0.0
    assert load_settings(commission_bps=None).commission_bps == 2.5  # None = flag not given


def test_frozen_and_unknown_fields_refused() -> None:
    s = Settings()
    with pytest.raises(Exception):
        s.commission_bps = 3  # type: ignore[misc]
    with pytest.raises(ConfigError):
        load_settings(no_such_setting=1)


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_SLIPPAGE_BPS", "lots")
    with pytest.raises(ConfigError, match="ADAPTRADE_SLIPPAGE_BPS"):
        load_settings()


def test_bad_env_value_at_the_cli_is_one_line(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, ADAPTRADE_MIN_WIN_RATE="2")
    r = subprocess.run([sys.executable, "-m", "adaptrade", "backtest", "--stocks", "2", "--no-store"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "ADAPTRADE_MIN_WIN_RATE" in r.stderr


def test_misspelt_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADAPTRADE_COMMISION_BPS", "50")
    with pytest.raises(ConfigError, match="ADAPTRADE_COMMISION_BPS"):
        load_settings()


def test_toml_file_sits_between_defaults_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adaptrade.toml").write_text("commission_bps = 3.0\nslippage_bps = 2\n")
    s = load_settings()
    assert (s.commission_bps, s.slippage_bps) == (3.0, 2.0)
    monkeypatch.setenv("ADAPTRADE_SLIPPAGE_BPS", "7")
    assert load_settings().slippage_bps == 7.0  # environment beats the file
    assert load_settings(slippage_bps=0.0).slippage_bps == 0.0  # flags beat both


def test_bad_toml_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adaptrade.toml").write_text("comission_bps = 3\n")
    with pytest.raises(ConfigError, match="adaptrade.toml"):
        load_settings()
    (tmp_path / "adaptrade.toml").write_text("commission_bps = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    monkeypatch.setenv("ADAPTRADE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not found"):
        load_settings()
