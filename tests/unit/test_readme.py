"""Every command in the README's code blocks runs as written: our CLIs parse it, make knows the target."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"

#: ``python -m MODULE`` → the module holding its Click command (``main`` unless named).
CLI_MODULES = {"export": "export.cli:main", "server": "server.cli:main", "client": "client.cli:cli"}
#: Programs the README names that are not ours (their own docs cover them).
FOREIGN = {"docker", "curl", "nvidia-smi", "aws", "echo", "sudo", "cat", "grep", "jq", "kubectl", "helm", "git"}
#: Files the commands read, made in the folder the commands are parsed in.
PLACEHOLDERS = ("texts.txt", "texts.jsonl", "passages.txt", "model_repository/reviews_tokenizer/")


def readme_commands() -> list[str]:
    """Every shell command of the README's ``bash`` blocks: continuation lines joined, pipes split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, "|"]:
                if word in ("|", "&&", ";", "||"):
                    if command:
                        commands.append(shlex.join(command))
                    command = []
                else:
                    command.append(word)
    return commands


def command_for(words: list[str]) -> tuple[str, list[str]] | None:
    """``(module, arguments)`` of one of our CLIs (``python -m X``, ``.venv/bin/client``), else ``None``."""
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words = words[1:]
    if not words:
        return None
    program = Path(words[0]).name
    if program in ("client", "pytest"):
        return program, words[1:]
    if program.startswith("python") and words[1:2] == ["-m"] and len(words) > 2:
        return words[2], words[3:]
    return None


def click_command(module: str) -> click.Command:
    path = CLI_MODULES.get(module, f"{module}:main")
    name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(name), attribute)
    assert isinstance(command, click.Command), f"python -m {module} is not a Click command"
    return command


def parse(command: click.Command, name: str, args: list[str]) -> None:
    """Parse ``args`` as the command line would, down to the subcommand, without running anything."""
    with command.make_context(name, list(args)) as ctx:
        if isinstance(command, click.Group):
            sub_name, sub, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            assert sub is not None
            with sub.make_context(sub_name, rest, parent=ctx):
                pass


COMMANDS = readme_commands()
OURS = [c for c in COMMANDS if command_for(shlex.split(c)) and command_for(shlex.split(c))[0] != "pytest"]
PYTEST = [c for c in COMMANDS if (found := command_for(shlex.split(c))) and found[0] == "pytest"]


def test_the_readme_has_commands_to_check() -> None:
    assert len(OURS) > 20
    assert COMMANDS[:2] == ["make demo", "make test"]


@pytest.mark.parametrize("line", OURS)
def test_cli_command_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for placeholder in PLACEHOLDERS:
        target = tmp_path / placeholder
        if placeholder.endswith("/"):
            target.mkdir(parents=True)
        else:
            target.write_text("a text\n")
    monkeypatch.chdir(tmp_path)
    for key in ("TRITON_URL", "TRITON_PROTOCOL", "TRITON_MODEL", "TRITONIZE_REPOSITORY"):
        monkeypatch.delenv(key, raising=False)
    module, args = command_for(shlex.split(line))
    try:
        parse(click_command(module), module, args)
    except click.exceptions.Exit as done:  # --help
        assert done.exit_code == 0
    except click.ClickException as error:
        pytest.fail(f"README command does not parse: {line}\n  {error.format_message()}")


@pytest.mark.parametrize("line", [c for c in COMMANDS if shlex.split(c)[0] == "make"])
def test_make_command_names_a_target(line: str) -> None:
    result = subprocess.run(["make", "-n", *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("line", PYTEST)
def test_pytest_command_names_existing_tests_and_markers(line: str) -> None:
    _, args = command_for(shlex.split(line))
    names = set(re.findall(r'^\s*"(\w+): ', (ROOT / "pyproject.toml").read_text(), re.M))  # the declared markers
    for arg, following in zip(args, [*args[1:], ""]):
        if arg.startswith("tests/"):
            assert (ROOT / arg).exists(), arg
        if arg == "-m":
            assert set(following.replace("(", " ").replace(")", " ").split()) - {"and", "or", "not"} <= names


def test_every_readme_command_is_ours_or_known() -> None:
    """A command of an unknown program would go unchecked: name it here or make it ours."""
    unknown = []
    for line in COMMANDS:
        words = shlex.split(line)
        if command_for(words) is None and words[0] not in FOREIGN and words[0] != "make":
            unknown.append(line)
    assert unknown == []


@pytest.mark.parametrize("block", re.findall(r"```python\n(.*?)```", README.read_text(), re.S))
def test_python_blocks_compile(block: str) -> None:
    compile(block, "README.md", "exec")
