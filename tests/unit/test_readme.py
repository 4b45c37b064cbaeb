"""Every command in the README's, CONTRIBUTING's and docs/'s code blocks runs as written.

Our CLIs parse it, make knows the target, pytest paths and markers exist; other programs are named in FOREIGN.
"""

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
#: Every documentation file whose commands are checked (docs pages written later are picked up by the glob).
DOCS = [README, ROOT / "CONTRIBUTING.md", ROOT / "docker" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: ``python -m MODULE`` → the module holding its Click command (``main`` unless named).
CLI_MODULES = {"export": "export.cli:main", "server": "server.cli:main", "client": "client.cli:cli",
               "gateway": "gateway.cli:main", "tune": "tune.cli:main"}
#: Programs the docs name that are not ours (their own docs cover them).
FOREIGN = {
    "docker", "curl", "nvidia-smi", "aws", "echo", "sudo", "cat", "grep", "jq", "kubectl", "helm", "git", "pip",
    "apt-get", "ruff", "hadolint", "cd",
}
#: Files the commands read, made in the folder the commands are parsed in.
PLACEHOLDERS = ("texts.txt", "texts.jsonl", "passages.txt", "model_repository/reviews_tokenizer/")


def shell_commands(text: str) -> list[str]:
    """Every shell command of ``text``'s ``bash`` blocks: continuation lines joined, pipes split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, "|"]:
                if word in ("|", "&&", ";", "||", "&"):
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
        if words[2] == "pytest":
            return "pytest", words[3:]
        return words[2], words[3:]
    return None


def program_of(line: str) -> str:
    """The program a command runs, past leading ``NAME=value`` assignments."""
    words = shlex.split(line)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words = words[1:]
    return words[0] if words else ""


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


#: ``(file, command)`` for every command of every documentation file.
COMMANDS = [(doc.relative_to(ROOT).as_posix(), line) for doc in DOCS for line in shell_commands(doc.read_text())]
OURS = [(doc, c) for doc, c in COMMANDS if (found := command_for(shlex.split(c))) and found[0] != "pytest"]
PYTEST = [(doc, c) for doc, c in COMMANDS if (found := command_for(shlex.split(c))) and found[0] == "pytest"]
MAKE = [(doc, c) for doc, c in COMMANDS if program_of(c) == "make"]


def first_block(text: str) -> str:
    """The first fenced code block of ``text``, whatever its language."""
    return re.search(r"```[^\n]*\n(.*?)```", text, re.S).group(1)


def test_the_readme_opens_with_the_two_commands() -> None:
    assert shell_commands(first_block(README.read_text()).join(("```bash\n", "```"))) == ["make demo", "make test"]


def test_the_docs_have_commands_to_check() -> None:
    assert len(OURS) > 40
    assert {doc for doc, _ in OURS} >= {"README.md", "docs/export.md", "docs/client.md", "docs/tasks.md"}


@pytest.mark.parametrize(("doc", "line"), OURS)
def test_cli_command_parses(doc: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
        pytest.fail(f"{doc}: command does not parse: {line}\n  {error.format_message()}")


@pytest.mark.parametrize(("doc", "line"), MAKE)
def test_make_command_names_a_target(doc: str, line: str) -> None:
    words = shlex.split(line)
    words = words[words.index("make") + 1:]
    result = subprocess.run(["make", "-n", *words], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{doc}: {line}\n{result.stderr}"


@pytest.mark.parametrize(("doc", "line"), PYTEST)
def test_pytest_command_names_existing_tests_and_markers(doc: str, line: str) -> None:
    _, args = command_for(shlex.split(line))
    names = set(re.findall(r'^\s*"(\w+): ', (ROOT / "pyproject.toml").read_text(), re.M))  # the declared markers
    for arg, following in zip(args, [*args[1:], ""]):
        if arg.startswith("tests/"):
            assert (ROOT / arg.split("::")[0]).exists(), f"{doc}: {arg}"
        if arg == "-m":
            assert set(following.replace("(", " ").replace(")", " ").split()) - {"and", "or", "not"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_is_ours_or_known(doc: Path) -> None:
    """A command of an unknown program would go unchecked: name it here or make it ours."""
    unknown = [line for line in shell_commands(doc.read_text())
               if command_for(shlex.split(line)) is None and program_of(line) not in (*FOREIGN, "make")]
    assert unknown == []


PYTHON_BLOCKS = [(doc.relative_to(ROOT).as_posix(), block) for doc in DOCS
                 for block in re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)]


@pytest.mark.parametrize(("doc", "block"), PYTHON_BLOCKS)
def test_python_blocks_compile(doc: str, block: str) -> None:
    compile(block, doc, "exec")


def anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_reach_a_file_and_heading(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        name, _, fragment = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        if not path.exists() or (fragment and path.suffix == ".md" and fragment not in anchors(path)):
            broken.append(target)
    assert broken == []
