"""The README's shell commands run as written after its own set-up step
(./scripts/serve.sh, or the same by hand), which installs the `fastvideo-ui`
command as .venv/bin/fastvideo-ui and puts nothing on PATH."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell)\n(.*?)^```", re.M | re.S)
SEPARATORS = {"&&", "||", ";", "|", "(", ")"}


def logical_lines(block: str) -> list[str]:
    """A block's lines, joined where a backslash or an open quote carries one on."""
    lines: list[str] = []
    pending = ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote still open
            continue
        lines.append(pending)
        pending = ""
    assert not pending, f"an unclosed quote: {pending}"
    return lines


def commands(block: str) -> list[list[str]]:
    """Each simple command of a shell block, as words, with environment
    assignments in front of it left out."""
    found = []
    for line in logical_lines(block):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in [*lexer, ";"]:
            if word in SEPARATORS:
                if words:
                    found.append(words)
                words = []
            elif words or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
                words.append(word)
    return found


def unrunnable_cli_lines(readme: str) -> list[str]:
    """`fastvideo-ui ...` commands that a shell set up as the README says
    would not find: the bare name, unless the block first activates .venv or
    installs the package into the environment on PATH."""
    wrong = []
    for block in SHELL_BLOCK.findall(readme):
        on_path = False
        for words in commands(block):
            if words[0] in ("source", ".") and words[1:2] == [".venv/bin/activate"]:
                on_path = True
            if Path(words[0]).name == "pip" and "install" in words:
                on_path = on_path or words[0] == "pip"  # .venv/bin/pip installs into .venv, not PATH
            if words[0] == "fastvideo-ui" and not on_path:
                wrong.append(" ".join(words))
            elif words[0].endswith("/fastvideo-ui") and words[0] != ".venv/bin/fastvideo-ui":
                wrong.append(" ".join(words))
    return wrong


def test_every_cli_line_of_the_readme_runs_after_its_set_up() -> None:
    assert unrunnable_cli_lines((ROOT / "README.md").read_text()) == []


def test_the_set_up_makes_what_the_readme_calls() -> None:
    """What the check above takes as given: scripts/venv.sh (under serve.sh and
    test.sh) makes .venv and installs the package, whose script is fastvideo-ui."""
    venv_sh = (ROOT / "scripts" / "venv.sh").read_text()
    assert "-m venv .venv" in venv_sh and "-m pip install" in venv_sh
    assert "source scripts/venv.sh" in (ROOT / "scripts" / "serve.sh").read_text()
    assert re.search(r'^fastvideo-ui = "fastvideo_ui\.cli:main"$', (ROOT / "pyproject.toml").read_text(), re.M)


def test_the_check_sees_a_bare_name_and_accepts_the_set_ups() -> None:
    readme = """
```bash
fastvideo-ui jobs
FASTVIDEO_UI_SERVER=http://gpu-box:8189 fastvideo-ui models && fastvideo-ui gpus
.venv/bin/fastvideo-ui serve
curl -d '{"model_id": "fastvideo-ui/preview"}' localhost:8189/api/jobs   # fastvideo-ui serve
```

```bash
source .venv/bin/activate
fastvideo-ui submit "a fox" \\
  --wait
```

```bash
pip install 'fastvideo-ui[ray]'
fastvideo-ui serve --ray auto
```
"""
    assert unrunnable_cli_lines(readme) == ["fastvideo-ui jobs", "fastvideo-ui models", "fastvideo-ui gpus"]


SERVER_FLAGS = re.compile(r"^## Server flags\n\n\| flag \| env \| default \|\n\| --- \| --- \| --- \|\n"
                          r"((?:\|.*\n)+)", re.M)


def server_flag_rows(readme: str) -> list[tuple[list[str], list[str], str]]:
    """The README's "Server flags" table: each row's flags, environment
    variables (a row may hold two settings, `--a` / `--b`) and default text."""
    table = SERVER_FLAGS.search(readme)
    assert table, "README.md has no Server flags table"
    rows = []
    for line in table.group(1).splitlines():
        flag, env, default = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        flags = list(dict.fromkeys(re.findall(r"`(--[a-z0-9-]+)", flag)))  # `--gpus 0,1` / `--gpus none`: one
        rows.append((flags, re.findall(r"`(FASTVIDEO_UI_[A-Z0-9_]+)", env), default))
    return rows


def test_the_readmes_server_flags_table_is_the_settings_table() -> None:
    """Every setting is in the README with its environment variable, no flag
    or variable is there that the server does not take, and a number's default
    is the one it has: the table is written by hand, so this is what keeps it true."""
    from fastvideo_ui.config import Settings
    from fastvideo_ui.settings_table import entries, number_text

    rows = server_flag_rows((ROOT / "README.md").read_text())
    settings = entries(Settings)
    flags = {entry.setting.flag: entry for entry in settings if entry.setting.flag}
    listed = [flag for row_flags, _, _ in rows for flag in row_flags]
    assert sorted(listed) == sorted(flags), "README's Server flags table and the server's flags differ"
    envs = {env for _, row_envs, _ in rows for env in row_envs}
    assert envs == {entry.setting.env for entry in settings}, "README's environment variables differ"
    for row_flags, row_envs, default in rows:
        for flag in row_flags:
            assert flags[flag].setting.env in row_envs, f"README gives {flag} another variable: {row_envs}"
        entry = flags[row_flags[0]]
        if len(row_flags) == 1 and entry.kind in (int, float):
            assert default.startswith(f"`{number_text(entry.default)}`"), f"README's default for {row_flags[0]}"


def test_the_server_flags_check_reads_a_row_of_two() -> None:
    readme = ("## Server flags\n\n| flag | env | default |\n| --- | --- | --- |\n"
              "| `--gpus 0,1` / `--gpus none` | `FASTVIDEO_UI_GPUS` | all |\n"
              "| `--body-timeout S` / `--body-min-rate BYTES` | `FASTVIDEO_UI_BODY_TIMEOUT` / "
              "`FASTVIDEO_UI_BODY_MIN_RATE` | `30` s |\n| `--verbose` | `FASTVIDEO_UI_VERBOSE=1` | off |\n\nText\n")
    assert server_flag_rows(readme) == [
        (["--gpus"], ["FASTVIDEO_UI_GPUS"], "all"),
        (["--body-timeout", "--body-min-rate"], ["FASTVIDEO_UI_BODY_TIMEOUT", "FASTVIDEO_UI_BODY_MIN_RATE"], "`30` s"),
        (["--verbose"], ["FASTVIDEO_UI_VERBOSE"], "off")]
