"""The command line explains itself: every command listed, described, every option helped."""

import argparse

from cli.main import build_parser


def _subcommands(parser):
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def test_top_level_help_then_every_command_listed_in_plain_text():
    parser = build_parser()

    text = parser.format_help()

    assert "`" not in text
    for name in _subcommands(parser):
        assert f"  {name} " in text, name


def test_every_command_then_has_a_description_and_help_on_every_option():
    undocumented = []
    for name, sub in _subcommands(build_parser()).items():
        if not (sub.description or "").strip():
            undocumented.append(f"{name}: description")
        for action in sub._actions:
            if action.option_strings and action.dest != "help" and not action.help:
                undocumented.append(f"{name} {'/'.join(action.option_strings)}")

    assert not undocumented, undocumented
