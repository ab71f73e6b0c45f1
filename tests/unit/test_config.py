"""One config: defaults, TOML file, NUBO_* environment, flags."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from nubo.config import ConfigError, load, sample


def test_defaults_work_on_one_machine(tmp_path: Path) -> None:
    cfg = load(env={}, data_dir=str(tmp_path))
    assert cfg.database_url == f"sqlite:///{tmp_path}/nubo.db"
    assert cfg.base_url == "http://127.0.0.1:8770"


def test_file_env_and_flag_precedence(tmp_path: Path) -> None:
    (tmp_path / "nubo.toml").write_text(
        '[api]\nbind = "127.0.0.1:9000"\n[identity]\ntoken_expiration = 60\n'
    )
    cfg = load(env={"NUBO_IDENTITY_TOKEN_EXPIRATION": "120"}, data_dir=str(tmp_path))
    assert cfg.bind_port == 9000
    assert cfg.identity.token_expiration == 120
    cfg = load(env={}, data_dir=str(tmp_path), api__bind="127.0.0.1:9100")
    assert cfg.bind_port == 9100


@pytest.mark.parametrize(
    "text",
    ["[nope]\nx = 1\n", "[api]\nbogus = 1\n", '[identity]\ntoken_expiration = "soon"\n', "[api\n"],
)
def test_bad_files_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "nubo.toml").write_text(text)
    with pytest.raises(ConfigError):
        load(env={}, data_dir=str(tmp_path))


def test_bad_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NUBO_API_ACCESS_LOG"):
        load(env={"NUBO_API_ACCESS_LOG": "perhaps"}, data_dir=str(tmp_path))


def test_sample_documents_every_option_and_parses() -> None:
    text = sample()
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and "=" in line else line
        for line in text.splitlines()
        if not line.startswith("# ") or "=" in line
    )
    doc = tomllib.loads(uncommented)
    assert doc["identity"]["password_hash_rounds"] == 12
    assert "database" in doc and "url" in doc["database"]


def test_configuration_reference_is_current() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert sample() in doc, "docs/configuration.md is stale: paste `nubo config sample`"
