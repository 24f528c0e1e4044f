"""The README's examples, read out of its Markdown for tests/test_readme.py.

Which fenced blocks are examples, by their info string:

- ``console``: a shell session.  A line starting ``$ `` is a command (a line
  ending in ``\\`` continues on the next); the lines after it, up to the next
  command, are what it prints, standard output and standard error together in
  the order written.  A here-document (``<<'EOF'``) runs to its delimiter
  line.  A last line ``[exit N]`` says the command exits N; without one it
  must exit 0.
- ``pycon``: a Python session, run as a doctest.
- ``python illustrative``: Python that shows the API's shape and is not run
  (a plain ``python`` block is refused, so nothing goes unchecked by
  accident).

In shown output, ``…`` stands for what legitimately differs between runs:
inside a line, any text on that line (a time, a duration, a rate, the kernels
in use); alone on a line, any number of lines (output the README leaves out).
Trailing spaces are not compared.  Any other block (``sh``, ``text``,
``json``, ...) is not run, and must not hold a ``$ `` prompt: shown commands
are always checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDER = "…"
_FENCE = re.compile(r"^```(.*)$")
_EXIT = re.compile(r"^\[exit (\d+)\]$")
_HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


@dataclass(frozen=True)
class Command:
    line: int  # 1-based, in the README
    text: str  # as bash reads it (continuation lines kept)
    expected: tuple[str, ...]  # shown output lines
    exit_code: int

    def matches(self, output: str) -> bool:
        return shows(self.expected, output)


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    info: str  # the fence's info string, as written
    body: str

    @property
    def kind(self) -> str:
        return self.info.split()[0] if self.info.strip() else ""

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"

    def commands(self) -> list[Command]:
        """The console session's commands with what each shows."""
        commands: list[Command] = []
        lines = self.body.split("\n")
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise ValueError(f"{self.name}: line {self.line + 1 + i}: output before any `$ ` command")
            start = i
            text = lines[i][2:]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text += "\n" + lines[i]
            if heredoc := _HEREDOC.search(text.rsplit("\n", 1)[-1]):
                end = lines.index(heredoc.group(1), i + 1)  # ValueError: never ended
                text += "\n" + "\n".join(lines[i + 1 : end + 1])
                i = end
            i += 1
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            exit_code = 0
            if shown and (found := _EXIT.match(shown[-1])):
                exit_code = int(found.group(1))
                shown.pop()
            commands.append(Command(self.line + 1 + start, text, tuple(shown), exit_code))
        return commands


def blocks(readme: Path) -> list[Block]:
    """Every fenced block of the README, in order."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(readme.read_text(encoding="utf-8").split("\n"), 1):
        fence = _FENCE.match(line)
        if opened is None:
            if fence:
                opened, body = (number, fence.group(1).strip()), []
        elif fence and not fence.group(1).strip():
            found.append(Block(opened[0], opened[1], "\n".join(body)))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise ValueError(f"README.md:{opened[0]}: block never closed")
    return found


def shows(shown: tuple[str, ...], output: str) -> bool:
    """Whether ``output`` is what the ``shown`` lines stand for."""
    return _pattern(shown).fullmatch(_normalise(output)) is not None


def _pattern(shown: tuple[str, ...]) -> re.Pattern:
    """A regular expression for the output ``shown`` stands for."""
    parts = []
    for line in _normalise("\n".join(shown)).split("\n")[:-1]:
        if line == PLACEHOLDER:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*?".join(re.escape(piece) for piece in line.split(PLACEHOLDER)) + r"\n")
    return re.compile("".join(parts))


def _normalise(text: str) -> str:
    """Lines without trailing spaces, no blank lines at the end, one final newline."""
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n")) + "\n"
