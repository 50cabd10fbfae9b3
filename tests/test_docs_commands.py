"""Every command that README.md and docs/*.md tell a reader to type works as written (issue 12, point 8).

The commands are taken from the fenced code blocks and the inline code of those files: ``./kit``, ``autograder``,
``nbgrader``, ``python`` or ``.venv/bin/...`` followed by an argument. Each one must be listed here, with how it is
proved, so a command added to the docs without a test fails this file:

- ``RUN`` (in that order): typed for real in a temporary course, from a shell whose PATH does not hold the
  kit's venv (as a new instructor types them), then its outcome checked;
- ``PARSE``: too slow to run here (a whole class, ``ci``, ``calibrate``, ``main``, a benchmark): the exact command
  line goes through the real parser (``autograder.cli.build_parser``, bench/run.py's, the pytest options ``./kit
  test`` passes), so a wrong name or an unknown option fails, and every input path it names exists in the course
  the ``RUN`` commands made;
- ``USAGE``: a synopsis (``[--out DIR]``, ``build|run``, ``COMMAND``): its subcommands and options exist, and
  each ``a|b`` value is among the option's choices;
- ``PROGRAM``: a program of the kit's venv run through ``./kit``: its ``--help`` lists every option the command uses;
- ``NBGRADER``: an nbgrader command the docs name is one of nbgrader's subcommands;
- ``PYTHON_FLAG``: an interpreter flag the docs name (``python -O``) does what they say.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VENV_BIN = REPO / ".venv" / "bin"
PREFIX = re.compile(r"(\./kit|autograder|nbgrader|python|\.venv/bin/\S+) \S")  # a program and its arguments
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
# values the docs leave to the reader: a Slurm array task, a practical's name
DOC_VARIABLES = {"SLURM_ARRAY_TASK_ID": "3"}
PLACEHOLDERS = {"NN-name": "02-graphs"}

PARSE, USAGE, PROGRAM, NBGRADER, PYTHON_FLAG = "parse", "usage", "program", "nbgrader", "python flag"
COMMANDS = {
    # README.md
    "./kit main": PARSE,
    "./kit test": PARSE,
    "./kit COMMAND": USAGE,
    "autograder COMMAND": USAGE,
    "./kit nbgrader ...": USAGE,
    "./kit python ...": USAGE,
    "./kit data": PARSE,
    "./kit release": PARSE,
    "./kit COMMAND -h": USAGE,
    "./kit release [A...]": USAGE,
    "./kit grade PATH... [--workers N] [--shard i/n] [--device cpu|gpu|auto]": USAGE,
    "./kit merge": USAGE,
    "./kit export": PARSE,
    "./kit gradescope build|run": USAGE,
    "./kit ci": PARSE,
    "./kit student-kit [--out DIR]": USAGE,
    "./kit calibrate [A]": USAGE,
    "nbgrader generate_assignment": NBGRADER,
    "python bench/run.py": PARSE,
    "nbgrader autograde": NBGRADER,
    # docs/instructors.md
    "./kit grade": USAGE,
    "./kit grade submitted/ --out grades/": PARSE,
    "./kit grade submitted/ --student alice --regrade": PARSE,
    "./kit grade submitted/ --assignment 02-graphs --regrade": PARSE,
    "nbgrader export": NBGRADER,
    "autograder gradescope run": PARSE,  # what the Gradescope zip's run_autograder runs
    "./kit grade submitted/ --shard $SLURM_ARRAY_TASK_ID/8 --out shard-$SLURM_ARRAY_TASK_ID --no-export": PARSE,
    "./kit ci [--workers N] [--out folder] [ASSIGNMENT...]": USAGE,
    # docs/authoring.md
    "./kit calibrate NN-name": PARSE,
    "./kit student-kit": PARSE,
    "python -O": PYTHON_FLAG,
    "./kit translations": PARSE,
    "./kit release --lang fr": PARSE,
    "./kit release --lang fr [A...]": USAGE,
    # docs/cluster.md
    "./kit grade submitted/ --scheduler tcp://HOST:8786": PARSE,
    "./kit dask worker tcp://HOST:8786 --nworkers \"$(nproc)\" --nthreads 1": PROGRAM,
    "./kit grade submitted/ --scheduler tcp://LOGIN-NODE:8786": PARSE,
    "./kit grade submitted/ --scheduler tcp://localhost:8786": PARSE,
    "./kit grade submitted/ --scheduler ... --status error": PARSE,
    "./kit python slurm_cluster.py": USAGE,  # a script the reader saves from the doc's own code block
    "./kit python kubernetes_cluster.py": USAGE,
}


def _csv(course: Path, folder: str = "grades") -> list[dict]:
    with open(course / folder / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _released(course, proc):
    assert (course / "release/02-graphs/02-graphs.ipynb").is_file()
    assert (course / "solutions/02-graphs/02-graphs.ipynb").is_file()
    assert "created the course secret" in proc.stdout and (course / ".autograder-secret").is_file()


def _submit(course):
    (course / "submitted/alice/02-graphs").mkdir(parents=True)
    shutil.copy(course / "solutions/02-graphs/02-graphs.ipynb", course / "submitted/alice/02-graphs")


def _graded(course, proc):
    # one notebook: one worker, whatever --workers says (and the console says "1 worker", not "1 workers")
    assert "1 submission (1 graded); 1 graded now in" in proc.stdout and "with 1 worker," in proc.stdout
    [row] = _csv(course)
    assert (row["student"], row["status"], row["score"]) == ("alice", "graded", row["max_score"])


def _keep_csv(course):
    """Keep the grade run's CSV aside; `export` must write the same again."""
    (course / "grades/grades.csv").rename(course / "graded.csv")


def _exported(course, proc):
    assert (course / "grades/grades.csv").read_bytes() == (course / "graded.csv").read_bytes()


def _secret_file(course):
    (course / "secret.txt").write_text("a course secret\n")


def _zip_built(course, proc):
    names = zipfile.ZipFile(course / "autograder-02.zip").namelist()
    assert {"setup.sh", "run_autograder"} <= {Path(n).name for n in names}


def _workflow(course, proc):
    assert "02-graphs" in (course / "template-repo/.github/workflows/classroom.yml").read_text()


def _shard_1(course):
    """Machine 1's share: the one submission there is, graded above."""
    shutil.copytree(course / "grades/results", course / "shard-1/results")


def _shard_2(course, proc):
    """Shard 2 of 4 of one submission is empty: nothing graded, nothing exported."""
    assert not list(course.glob("shard-2/results/*.json")) and not (course / "shard-2/grades.csv").exists()


def _merged(course, proc):
    assert "merged 1 result from 4 shards into grades" in proc.stdout
    assert (course / "grades/grades.csv").read_bytes() == (course / "graded.csv").read_bytes()


def _student_kit(course, proc):
    assert (course / "dist/student-kit/pyproject.toml").is_file() and "pip install dist/student-kit" in proc.stdout


# (command as the docs write it, what is prepared before it, what its outcome must be), in the order typed
RUN = [
    ("./kit release NN-name", None, _released),
    ("./kit grade submitted/ --workers 4", _submit, _graded),
    ("./kit export grades/", _keep_csv, _exported),
    ("./kit gradescope build --assignment 02-graphs -o autograder-02.zip [--secret-file secret.txt]", _secret_file,
     _zip_built),
    ("./kit export --classroom 02-graphs -o template-repo/.github/workflows/classroom.yml", None, _workflow),
    ("./kit grade submitted/ --shard 2/4 --out shard-2 --no-export", _shard_1, _shard_2),
    ("./kit merge shard-1 shard-2 shard-3 shard-4 --out grades", None, _merged),
    ("./kit student-kit --out dist/student-kit", None, _student_kit),
]


def doc_commands() -> dict[str, str]:
    """Each command of the docs -> the first file that writes it."""
    found = {}
    for doc in DOCS:
        text = doc.read_text()
        lines = [re.sub(r"\s#.*$", "", line) for block in FENCE.findall(text) for line in block.splitlines()]
        spans = re.findall(r"`([^`]+)`", FENCE.sub("", text))
        for cmd in lines + spans:
            cmd = " ".join(cmd.replace("\\|", "|").split())
            if PREFIX.match(cmd):
                found.setdefault(cmd, doc.name)
    return found


def _outside_venv() -> dict:
    """The environment of a shell where the kit's venv was never activated."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "AUTOGRADER_SECRET", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != VENV_BIN.resolve())
    return env


def _argv(cmd: str) -> list[str]:
    """The command line a shell gets: $VARS expanded, placeholders filled, [optional] parts typed."""
    cmd = re.sub(r"\$(\w+)", lambda m: DOC_VARIABLES[m.group(1)], cmd)
    for name, value in PLACEHOLDERS.items():
        cmd = cmd.replace(name, value)
    return shlex.split(cmd.replace("[", "").replace("]", ""))


def test_every_docs_command_is_in_the_table():
    docs = doc_commands()
    tested = set(COMMANDS) | {cmd for cmd, _, _ in RUN}
    untested = {cmd: doc for cmd, doc in docs.items() if cmd not in tested}
    assert not untested, f"commands in the docs with no test here (add them to COMMANDS or RUN): {untested}"
    stale = tested - set(docs)
    assert not stale, f"commands listed here that no doc writes any more: {stale}"
    assert all(mode in (PARSE, USAGE, PROGRAM, NBGRADER, PYTHON_FLAG) for mode in COMMANDS.values())


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder in which the RUN commands were typed, in order, each checked at once: failures by command."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "source/02-graphs", course / "source/02-graphs")
    shutil.copy(REPO / "nbgrader_config.py", course)
    env = dict(_outside_venv(), AUTOGRADER_COURSE=str(course))
    failures = {}
    for cmd, prepare, check in RUN:
        if prepare:
            prepare(course)
        argv = _argv(cmd)
        assert argv[0] == "./kit"  # typed in the kit's folder; here in the course's, so by the kit's full path
        proc = subprocess.run([str(REPO / "kit"), *argv[1:]], cwd=course, env=env, capture_output=True, text=True,
                              timeout=600)
        try:
            assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
            check(course, proc)
        except AssertionError as e:  # the next commands still run; each test reports its own command
            failures[cmd] = e
    return course, failures


@pytest.mark.parametrize("cmd", [cmd for cmd, _, _ in RUN])
def test_run_as_written(course, cmd):
    _, failures = course
    if cmd in failures:
        pytest.fail(f"{cmd}: {failures[cmd]}")


def _kit_dispatch(sub: str) -> list[str] | None:
    """What ./kit runs for its own subcommands (main, test), read from the script itself."""
    m = re.search(rf"^\s*{sub}\) shift; exec (.*) \"\$@\" ;;$", (REPO / "kit").read_text(), re.M)
    return shlex.split(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", m.group(1))) if m else None


def _parse_autograder(argv: list[str], course: Path, cmd: str, capsys) -> None:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"{cmd}: the parser refuses it (exit {e.code}): {capsys.readouterr().err.strip()}")
    inputs = [*getattr(args, "paths", []), *getattr(args, "shards", [])]
    if args.command == "export" and not args.classroom:
        inputs.append(args.folder)
    missing = [p for p in inputs if not (course / p).exists()]
    assert not missing, f"{cmd}: names paths that do not exist: {missing}"


@pytest.mark.parametrize("cmd", [c for c, mode in COMMANDS.items() if mode == PARSE])
def test_parses_as_written(course, cmd, capsys, monkeypatch, tmp_path):
    course, _ = course
    monkeypatch.chdir(course)  # where the RUN commands were typed: the paths it names are there
    prog, *argv = _argv(cmd)
    if prog == "./kit" and _kit_dispatch(argv[0]):
        prog, *own = _kit_dispatch(argv[0])
        argv = own + argv[1:]
    if prog in ("./kit", "autograder", ".venv/bin/autograder"):
        _parse_autograder(argv, course, cmd, capsys)
    elif prog == "python" and argv[:1] == ["bench/run.py"]:
        loader = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('run', sys.argv[1]); "
                  "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
                  "m.build_parser().parse_args(sys.argv[2:])")
        proc = subprocess.run([str(VENV_BIN / "python"), "-c", loader, str(REPO / argv[0]), *argv[1:]],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{cmd}: {proc.stderr[-2000:]}"
    elif prog == ".venv/bin/python" and argv[:2] == ["-m", "pytest"]:
        # the options ./kit test gives pytest, on a file of one test: pytest (with xdist) must accept them
        (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
        proc = subprocess.run([str(VENV_BIN / "python"), *argv, "--collect-only", "-q", "-p", "no:cacheprovider",
                               "test_one.py"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0 and "1 test collected" in proc.stdout, f"{cmd}: {proc.stdout}{proc.stderr}"
    else:
        pytest.fail(f"{cmd}: no parser for {prog!r}")


def _check_usage(tokens: list[str], cmd: str) -> None:
    parser, option = build_parser(), None
    for token in (t.strip("[]") for t in tokens):
        if token.startswith("-"):
            option = parser._option_string_actions.get(token)  # noqa: SLF001 (argparse has no public accessor)
            assert option is not None, f"{cmd}: {parser.prog} has no option {token}"
            continue
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        commands = subparsers[0].choices if subparsers else None
        if option is not None and option.choices:
            assert set(token.split("|")) <= set(option.choices), f"{cmd}: {token} is not among {list(option.choices)}"
        elif option is None and commands is not None and token.islower():
            for name in token.split("|"):
                assert name in commands, f"{cmd}: no command {name!r} (known: {list(commands)})"
            parser = commands[token.split("|")[0]]
        option = None  # what is left is a placeholder (N, PATH..., A...) or an option's value


@pytest.mark.parametrize("cmd", [c for c, mode in COMMANDS.items() if mode == USAGE])
def test_synopsis_names_real_commands_and_options(cmd):
    prog, *tokens = cmd.split()
    if prog == "./kit" and tokens and (VENV_BIN / tokens[0]).is_file():
        assert os.access(VENV_BIN / tokens[0], os.X_OK), f"{cmd}: .venv/bin/{tokens[0]} is not a program"
        return
    _check_usage(tokens, cmd)


@pytest.mark.parametrize("cmd", [c for c, mode in COMMANDS.items() if mode == PROGRAM])
def test_venv_program_has_the_options_the_docs_use(cmd):
    kit, program, *args = shlex.split(cmd)
    assert kit == "./kit" and os.access(VENV_BIN / program, os.X_OK), f"{cmd}: no program {program} in .venv/bin"
    words = [a for a in args[:1] if re.fullmatch(r"[a-z][\w-]*", a)]  # its subcommand (dask worker)
    proc = subprocess.run([str(VENV_BIN / program), *words, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    unknown = [a for a in args if a.startswith("--") and a not in proc.stdout]
    assert not unknown, f"{cmd}: {program} {' '.join(words)} has no option {unknown}"


@pytest.mark.parametrize("cmd", [c for c, mode in COMMANDS.items() if mode == NBGRADER])
def test_nbgrader_commands_the_docs_name_exist(cmd):
    from nbgrader.apps.nbgraderapp import NbGraderApp

    assert cmd.split()[1] in NbGraderApp.subcommands


@pytest.mark.parametrize("cmd", [c for c, mode in COMMANDS.items() if mode == PYTHON_FLAG])
def test_python_flag_the_docs_name(cmd):
    flags = cmd.split()[1:]
    assert subprocess.run([sys.executable, *flags, "-c", "pass"]).returncode == 0, f"{cmd}: not a Python option"
    if "-O" in flags:  # the docs' point: it strips asserts, so checks never use a bare assert
        assert subprocess.run([sys.executable, *flags, "-c", "assert False"]).returncode == 0


def test_bench_runs_from_a_python_outside_the_venv():
    """`python bench/run.py -h` as the README writes it, with whatever `python` a fresh shell has."""
    env = _outside_venv()
    python = shutil.which("python", path=env["PATH"]) or shutil.which("python3", path=env["PATH"])
    assert python, "no python outside the venv on PATH"
    proc = subprocess.run([python, "bench/run.py", "-h"], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "--parts" in proc.stdout, proc.stderr[-2000:]
