"""The command line: help, version, usage errors and exit codes."""

from __future__ import annotations

import subprocess
import sys

from nnport import __version__


def test_help_lists_the_verbs(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    assert "inspect" in result.out


def test_version(cli) -> None:
    result = cli("--version")
    assert result.code == 0
    assert __version__ in result.out


def test_unknown_option_is_a_usage_error(cli, examples_dir) -> None:
    result = cli("inspect", examples_dir / "demo.onnx", "--bogus")
    assert result.code == 2
    assert "Traceback" not in result.err


def test_console_script_runs_without_optional_runtimes() -> None:
    """``python -m nnport --help`` imports no runtime beyond the core."""
    code = (
        "import sys; from nnport.cli.app import run; rc = run(['--help']);"
        "heavy = [m for m in ('torch', 'openvino', 'ncnn', 'pnnx') if m in sys.modules];"
        "print(heavy); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_line_starts_without_loading_onnx() -> None:
    """`nnport --help` and argument errors must not pay for onnx / onnx-ir (sympy): the verbs
    import them on first use."""
    code = (
        "import sys, nnport, nnport.cli.app; "
        "print(sorted(m for m in ('onnx', 'onnx_ir', 'onnxruntime', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
