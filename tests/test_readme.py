"""Every command and code block of README.md runs as written.

The ```bash, ```sh, ```shell, ```console and ```python blocks of each document are run in
document order, in a temporary folder holding a copy of ``audio_fixtures/`` and
``configs/``, with the repository on PYTHONPATH:

* bash lines run one at a time with ``bash -o pipefail``; ``diarize`` and ``python`` are
  shell functions running this interpreter (``python -m diarize``), so the package under
  test is the checkout's. In console blocks only ``$ `` lines are commands. Lines that
  install or fetch (``pip install``, ``python -m venv``, ``source .../activate``,
  ``git clone``, ``cd gmm-diarize``, and the test run itself) are skipped, also where
  they are chained with ``&&``: the test environment has no network and already has
  the package.
* python blocks are executed in one namespace per document (as in one interpreter
  session), or as doctests when they contain ``>>>`` prompts.

A command with a non-zero exit status, or a block raising, fails the test. Blocks using
``diarize plot``/``diarize.plot`` are skipped only when matplotlib is not installed.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Whole recordings, subprocesses or worker pools: deselected by -m "not slow".
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md"]
SHELLS = {"bash", "sh", "shell", "console"}
BLOCK = re.compile(r"^```[ \t]*(\w+)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIPPED_COMMANDS = re.compile(
    r"^(pip3? install|python3? -m (venv|pip install)|source \S*activate|\. \S*activate"
    r"|git clone|cd gmm-diarize|python3? -m pytest)\b")
COPIED = ["audio_fixtures", "configs"]
COMMAND_TIMEOUT_S = 600
PREAMBLE = 'diarize() { "$PYTHON" -m diarize "$@"; }\npython() { "$PYTHON" "$@"; }\n'


def blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of the runnable fenced blocks of a Markdown text, in order."""
    return [(lang.lower(), code) for lang, code in BLOCK.findall(text)
            if lang.lower() in SHELLS | {"python", "py", "pycon"}]


def shell_commands(lang: str, code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, prompts and output dropped."""
    commands, current = [], ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if lang == "console" and not current:
            if not line.startswith("$ "):
                continue  # output shown in a console block
            line = line[2:]
        current += line
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        command, current = current.strip(), ""
        # `pip install -e . && diarize x.wav`: the install is skipped, the rest runs
        command = " && ".join(part for part in command.split(" && ")
                              if not SKIPPED_COMMANDS.match(part.strip()))
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def _needs_matplotlib(code: str) -> bool:
    return "diarize plot" in code or "diarize.plot" in code


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_document_blocks_run(document, tmp_path, monkeypatch):
    if not document.is_file():
        pytest.skip(f"{document.name} does not exist")
    text = document.read_text(encoding="utf-8")
    found = blocks(text)
    if not found:
        pytest.skip(f"{document.name} has no bash/console/python blocks")
    for name in COPIED:
        if f"{name}/" in text and not (REPO / name).is_dir():
            pytest.skip(f"{document.name} uses {name}/, which is not in this checkout")
    work = tmp_path / "repo"
    work.mkdir()
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, work / name)
    env = dict(os.environ, PYTHON=sys.executable, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(REPO))
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for number, (lang, code) in enumerate(found, start=1):
        where = f"{document.name}, block {number} ({lang})"
        if _needs_matplotlib(code) and not _have("matplotlib"):
            continue
        if lang in SHELLS:
            for command in shell_commands(lang, code):
                proc = subprocess.run(["bash", "-o", "pipefail", "-c", PREAMBLE + command],
                                      cwd=work, env=env, capture_output=True, text=True,
                                      timeout=COMMAND_TIMEOUT_S)
                assert proc.returncode == 0, (
                    f"{where}: `{command}` exited with {proc.returncode}\n"
                    f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-2000:]}")
                ran += 1
        elif ">>>" in code:
            test = doctest.DocTestParser().get_doctest(code, namespace, where, str(document), 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            runner.run(test)
            assert runner.failures == 0, f"{where}: doctest failed"
            ran += 1
        else:
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # report which block, then fail
                pytest.fail(f"{where} raised {type(exc).__name__}: {exc}\n\n{code}")
            ran += 1
    assert ran, f"{document.name}: nothing was run"


# --------------------------------------------------------------------------- the parser
def test_block_extraction_and_command_parsing():
    text = ("intro\n```bash\npip install .\ndiarize a.wav \\\n  --stdout\n# note\n```\n"
            "```text\nnot run\n```\n```console\n$ diarize --help\nUsage: ...\n```\n"
            "```python\nx = 1\n```\n")
    found = blocks(text)
    assert [lang for lang, _ in found] == ["bash", "console", "python"]
    assert shell_commands(*found[0]) == ["diarize a.wav    --stdout"]
    assert shell_commands(*found[1]) == ["diarize --help"]
    chained = "pip install -e . && diarize a.wav\npython -m venv v && . v/bin/activate && python -m pytest\n"
    assert shell_commands("bash", chained) == ["diarize a.wav"]
