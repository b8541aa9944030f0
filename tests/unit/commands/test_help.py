"""``modelmonitor --help`` and every sub-command's: each option explained, each command described, the
defaults shown where there is one and no "(default: None)" noise where there is none."""

from __future__ import annotations

import argparse
import re

import pytest

from modelmonitor.cli import HelpFormatter, build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every sub-command parser, nested ones included, by its command line (``experiment replay``)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[prefix + name] = sub
                out |= _commands(sub, f"{prefix}{name} ")
    return out


COMMANDS = _commands(build_parser())
MENU = {
    choice.dest: choice.help
    for action in build_parser()._actions
    if isinstance(action, argparse._SubParsersAction)
    for choice in action._choices_actions
}


def test_the_commands_this_build_ships_are_all_walked() -> None:
    assert {"run", "sidecar", "crd", "validate", "profile", "drift"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help(command: str) -> None:
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in COMMANDS[command]._actions
        if "-h" not in action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and not (action.help or "").strip()
    ]
    assert missing == [], f"modelmonitor {command}: options without help"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_description_and_shows_defaults(command: str) -> None:
    parser = COMMANDS[command]
    assert (parser.description or "").strip(), f"modelmonitor {command} has no description"
    assert parser.formatter_class is HelpFormatter
    text = parser.format_help()
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text


@pytest.mark.parametrize("command", ["run", "crd", "validate", "drift", "profile"])
def test_these_commands_describe_more_than_their_menu_line(command: str) -> None:
    description = COMMANDS[command].description or ""
    assert description != MENU[command] and len(description) > len(MENU[command] or "")


def _help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    return re.sub(r"\s+", " ", capsys.readouterr().out)


def test_drift_help_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help_of("drift", capsys)
    for shown in [
        "output format (default: json)",
        "(auto: by column type and sample size) (default: auto)",
        "for dataset drift (default: 0.5)",
        "distances are left alone (default: bh)",
        "on each side (default: 30)",
        "output file (default: standard output)",
    ]:
        assert shown in text
    # An option whose help already names its default does not get a second one.
    assert text.count("default: standard output") == 1


def test_run_help_explains_every_option_and_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help_of("run", capsys)
    assert text.startswith("usage: modelmonitor run ")
    assert "Run the ModelMonitor operator" in text
    assert "(default: http://0.0.0.0:8080/healthz)" in text
    assert "--log-format {json,plain,full} JSON: one object a line" in text and "(default: json)" in text
    assert "-v, --verbose log at debug level" in text
    assert "--standalone no peering with other replicas" in text


def test_formatter_leaves_options_without_a_default_alone() -> None:
    parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    parser.add_argument("--none", help="no default")
    parser.add_argument("--flag", action="store_true", help="a flag")
    parser.add_argument("--zero", type=float, default=0.0, help="can be zero")
    parser.add_argument("--said", default=5, help="rows (5)")
    parser.add_argument("--many", action="append", default=[], help="repeatable")
    text = re.sub(r"\s+", " ", parser.format_help())
    assert "no default --flag" in text and "a flag --zero" in text
    assert "can be zero (default: 0.0)" in text
    assert "rows (5) --many" in text
    assert text.endswith("repeatable ")


def test_each_command_is_registered_by_the_module_the_cli_names_for_it() -> None:
    """``modelmonitor CMD`` loads only :data:`modelmonitor.cli.COMMANDS`'s module for CMD: that module
    must register CMD, and every registered command must be in the map (or it could not be run)."""
    from modelmonitor.cli import COMMANDS as BY_COMMAND

    top = {name for name in COMMANDS if " " not in name}
    assert top == set(BY_COMMAND)
    for command in BY_COMMAND:
        alone = _commands(build_parser(command))
        assert command in alone, command
        assert {n for n in alone if " " not in n} <= top


def test_a_command_runs_through_its_own_parser_and_help_lists_them_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    menu = capsys.readouterr().out
    assert all(command in menu for command in ("run", "sidecar", "validate", "report", "demo-model"))
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    assert "usage: modelmonitor validate" in capsys.readouterr().out
