"""The size rule: long functions and modules fail unless their docstring says why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.sizes import offenders

ROOT = Path(__file__).resolve().parents[2]


def function(name: str, lines: int, docstring: str = "A planted function.") -> str:
    """A function of exactly ``lines`` lines: the def, its docstring, then assignments."""
    body = [f"    x{i} = {i}" for i in range(lines - 3)]
    return "\n".join([f"def {name}() -> int:", f'    """{docstring}"""', *body, "    return 0"])


def module(lines: int, docstring: str = "A planted module.") -> str:
    """A module of exactly ``lines`` lines."""
    return "\n".join([f'"""{docstring}"""', *(f"x{i} = {i}" for i in range(lines - 1))]) + "\n"


def plant(root: Path, relative: str, source: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def listed(root: Path) -> list[str]:
    return [str(offender) for offender in offenders(root)]


def test_an_81_line_function_fails_and_an_80_line_one_passes(tmp_path: Path) -> None:
    plant(tmp_path, "pkg/long.py", f'"""Planted."""\n\n\n{function("too_long", 81)}\n')
    plant(tmp_path, "pkg/fits.py", f'"""Planted."""\n\n\n{function("just_fits", 80)}\n')
    assert listed(tmp_path) == ["pkg/long.py:4 too_long 81 lines"]


def test_a_long_method_or_nested_function_is_caught_too(tmp_path: Path) -> None:
    nested = function("inner", 81).replace("\n", "\n    ")
    source = f'"""Planted."""\n\n\nclass Box:\n    """A box."""\n\n    {nested}\n'
    plant(tmp_path, "box.py", source)
    assert listed(tmp_path) == ["box.py:7 inner 81 lines"]


def test_a_601_line_module_fails_and_a_600_line_one_passes(tmp_path: Path) -> None:
    plant(tmp_path, "big.py", module(601))
    plant(tmp_path, "edge.py", module(600))
    assert listed(tmp_path) == ["big.py:1 <module> 601 lines"]


def test_a_docstring_that_says_why_lets_it_through(tmp_path: Path) -> None:
    why = "Planted. Long because the steps share ten locals that would be noisy to pass."
    plant(tmp_path, "fn.py", f'"""Planted."""\n\n\n{function("justified", 120, why)}\n')
    plant(tmp_path, "mod.py", module(700, "Planted.\n\nLong because it is one table, whole."))
    assert listed(tmp_path) == []


def test_mentioning_length_is_not_a_reason(tmp_path: Path) -> None:
    plant(tmp_path, "a.py", f'"""A."""\n\n\n{function("vague", 90, "A long function.")}\n')
    plant(tmp_path, "b.py", f'"""B."""\n\n\n{function("bare", 90, "Long because")}\n')
    plant(tmp_path, "c.py", f'"""C."""\n\n\n{function("inline", 90, "Not Long because x.")}\n')
    assert [line.split()[1] for line in listed(tmp_path)] == ["vague", "bare", "inline"]


def test_migrations_the_venv_and_var_are_skipped(tmp_path: Path) -> None:
    for folder in ("app/posts/migrations", ".venv/lib", "var/tmp", "node_modules/x"):
        plant(tmp_path, f"{folder}/0001_initial.py", module(900))
    assert listed(tmp_path) == []


def test_the_tree_keeps_the_size_rule() -> None:
    assert [str(offender) for offender in offenders(ROOT)] == []


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.sizes", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_lists_offenders_and_exits_1(tmp_path: Path) -> None:
    plant(tmp_path, "pkg/long.py", f'"""Planted."""\n\n\n{function("too_long", 81)}\n')
    plant(tmp_path, "pkg/big.py", module(601))
    result = run("--check", "--root", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "pkg/big.py:1 <module> 601 lines",
        "pkg/long.py:4 too_long 81 lines",
    ]
    assert "Long because" in result.stderr


def test_the_command_exits_0_on_a_tree_within_the_limits(tmp_path: Path) -> None:
    plant(tmp_path, "pkg/ok.py", f'"""Planted."""\n\n\n{function("fine", 40)}\n')
    result = run("--check", "--root", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, "")
