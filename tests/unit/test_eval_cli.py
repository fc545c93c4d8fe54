import argparse

import pytest

from cli.evals_cmd import add_eval_parser, check_provider, config_from_args
from core.settings import Settings
from evals.run import THRESHOLDS_PATH, load_thresholds


def _parse(*argv):
    parser = argparse.ArgumentParser(prog="stack8s")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["eval", *argv])


def test_eval_args_then_config(tmp_path):
    args = _parse(
        "--filter",
        "fast",
        "--filter",
        "ref-*",
        "--repeat",
        "2",
        "--concurrency",
        "3",
        "--out",
        str(tmp_path),
        "--via-api",
        "--api-url",
        "http://127.0.0.1:9000",
    )

    config = config_from_args(args)

    assert config.filters == ("fast", "ref-*") and config.repeat == 2 and config.concurrency == 3
    assert config.via_api and config.api_url == "http://127.0.0.1:9000"
    assert config.out_dir == tmp_path and config.provider == "offline"
    assert args.handler.__name__ == "cmd_eval"


def test_eval_defaults_then_offline_to_evals_out():
    config = config_from_args(_parse())

    assert str(config.out_dir) == "evals/out" and config.compression_ab and config.api_key is None


def test_provider_key_read_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")

    config = config_from_args(_parse("--provider", "openai", "--api-key-env", "MY_KEY"))

    assert config.api_key == "sk-test" and "sk-test" not in repr(config)


def test_openai_without_a_key_then_refused_not_silently_offline(monkeypatch):
    monkeypatch.delenv("LLM_API_KEY", raising=False)
    config = config_from_args(_parse("--provider", "openai"))

    with pytest.raises(ValueError, match="no key"):
        check_provider(Settings(_env_file=None), config)


def test_zero_repeat_then_refused():
    with pytest.raises(ValueError):
        config_from_args(_parse("--repeat", "0"))


def test_thresholds_then_gate_floors_and_provider_overrides(tmp_path):
    floors = load_thresholds(THRESHOLDS_PATH, "offline")
    custom = tmp_path / "t.toml"
    custom.write_text("[gate]\noracle = 1.0\n[provider.openai]\noracle = 0.9\n")

    assert floors["spec_accuracy"] == 0.95 and floors["oracle"] == 1.0
    assert load_thresholds(custom, "openai") == {"oracle": 0.9}


def test_thresholds_with_an_unknown_metric_then_refused(tmp_path):
    custom = tmp_path / "t.toml"
    custom.write_text("[gate]\nvibes = 1.0\n")

    with pytest.raises(ValueError, match="vibes"):
        load_thresholds(custom, "offline")


def test_filter_matching_nothing_then_refused_before_any_database_work(monkeypatch):
    import cli.evals_cmd as cmd

    monkeypatch.setattr(cmd, "_prepare_database", lambda settings: pytest.fail("touched the db"))

    with pytest.raises(ValueError, match="no scenario matches"):
        cmd.cmd_eval(Settings(_env_file=None), _parse("--filter", "nothing-*"))
