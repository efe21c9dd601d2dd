"""Fuzz cases for the CLI (byte-mutated examples, Hypothesis-built graphs) and a runner that
feeds them to ``nnport.cli.app.main`` in a worker process with a per-case deadline.

Shared by tests/test_fuzz.py (a few dozen cases in the default suite) and benchmarks/fuzz.py
(100,000 cases). A case is a folder of input files (a model, maybe its external data) and one
command line; the runner reports the exit code, whether a traceback was printed, whether the
run hung past its deadline, and whether any input file changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.onnx"))

# --------------------------------------------------------------------------------------------
# Command lines: every verb that reads a model, with cheap settings.

TARGETS = ("ascend310", "onnxruntime", "nnie", "openvino", "ncnn")


def command_for(verb: str, model: Path, out: Path, rng: random.Random) -> list[str]:
    """The argv (without ``nnport``) that runs ``verb`` on ``model``, writing under ``out``."""
    target = rng.choice(TARGETS)
    json_flag = ["--json"] if rng.random() < 0.3 else []
    m = os.fsdecode(model)
    if verb == "inspect":
        return ["inspect", m, *json_flag]
    if verb == "check":
        return ["check", m, "-t", target, *json_flag]
    if verb == "fix":
        return ["fix", m, "-t", target, "-o", os.fsdecode(out / "fixed.onnx"), *json_flag]
    if verb == "compare":
        return ["compare", m, "-b", "onnxruntime", "-n", "1", *json_flag]
    if verb == "bench":
        return ["bench", m, "-b", "onnxruntime", "--warmup", "0", "--iterations", "2", *json_flag]
    if verb == "convert":
        return ["convert", m, "--to", rng.choice(("openvino", "ncnn")), "-o",
                os.fsdecode(out / "converted"), *json_flag]  # fmt: skip
    if verb == "port":
        return ["port", m, "-t", rng.choice(("onnxruntime", "ascend310")), "-o",
                os.fsdecode(out / "port"), "--iterations", "2", "-n", "1", *json_flag]  # fmt: skip
    raise ValueError(verb)


# Verbs weighted towards the cheap ones; port and bench run every model stage.
VERBS = ("inspect", "check", "check", "fix", "fix", "compare", "bench", "port", "convert")


# --------------------------------------------------------------------------------------------
# Seeded byte mutations of the bundled examples.

_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff\x0f", b"\x01", b"\xfe")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """``data`` with 1-3 random edits: bit flips, overwritten/inserted/deleted bytes, a cut."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not buf:
            break
        kind = rng.randrange(6)
        at = rng.randrange(len(buf))
        if kind == 0:
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[at] = rng.randrange(256)
        elif kind == 2:
            buf[at:at] = rng.choice(_INTERESTING)
        elif kind == 3:
            del buf[at : at + rng.randint(1, 8)]
        elif kind == 4:
            chunk = rng.choice(_INTERESTING)
            buf[at : at + len(chunk)] = chunk
        elif rng.random() < 0.2:
            del buf[at:]
    return bytes(buf)


def write_mutated_example(folder: Path, rng: random.Random) -> Path:
    """A mutated copy of one bundled example in ``folder``."""
    source = rng.choice(EXAMPLES)
    path = folder / source.name
    path.write_bytes(mutate(source.read_bytes(), rng))
    return path


# --------------------------------------------------------------------------------------------
# Hypothesis-built graphs: random names, dims, dtypes, opsets and external-data keys.

_BAD_NAME = b"\xff\xfe\x80\xc3("  # not UTF-8
_NAME_TOKEN = "QZXJ"  # placeholders in the built proto, swapped for non-UTF-8 bytes after


_NAME_CHARS = st.characters(codec="utf-8", categories=["L", "N"], include_characters="._:/-")
_VALID_NAMES = st.text(_NAME_CHARS, min_size=1, max_size=8)
_BAD_NAMES = st.sampled_from(["", " ", "\x00", "a\nb", _NAME_TOKEN, _NAME_TOKEN + "x"])
_VALID_DIMS = st.integers(1, 4)
_BAD_DIMS = st.sampled_from([0, -1, -7, 10**12, 2**40, 2**63 - 1, "", _NAME_TOKEN, None])
_BAD_DTYPES = st.sampled_from(
    [TensorProto.UNDEFINED, TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.INT4,
     TensorProto.FLOAT8E4M3FN, TensorProto.BFLOAT16, 99, -1]
)  # fmt: skip
_ANY_DTYPES = st.sampled_from(
    [TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.UINT8,
     TensorProto.BOOL, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8]
)  # fmt: skip
_BAD_NUMBERS = st.sampled_from(
    ["-1", "abc", "1e3", "4.0", "", " 4", "0x10", "99999999999999999999", "\u0664"]
)
_BAD_LOCATIONS = st.sampled_from(
    ["missing.bin", "../w.bin", "sub/w.bin", "", "/etc/hostname", "w.bin/..", ".", "..",
     _NAME_TOKEN, "w.bin\x00", "W.BIN", "model.onnx"]
)  # fmt: skip
# Each case is a valid model with 0-2 of these faults: one bad thing at a time reaches the
# code behind the first check, where several at once would all stop at the loader.
FAULTS = (
    "name", "same_names", "dims", "dynamic", "dtype", "op_dtype", "weight_dims", "raw_size", "location",
    "offset", "length", "short_data", "extra_key", "opset", "ir_version", "file_name",
)  # fmt: skip
_OP_DTYPES = {
    "Identity": [TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.UINT8],
    "Relu": [TensorProto.FLOAT, TensorProto.DOUBLE],
    "Add": [TensorProto.FLOAT],
    "Cast": [TensorProto.FLOAT, TensorProto.INT64, TensorProto.FLOAT16, TensorProto.INT32],
    "Not": [TensorProto.BOOL],
    "If": [TensorProto.BOOL],
    "Reshape": [TensorProto.FLOAT],
}


@dataclass(frozen=True)
class GraphCase:
    """What a Hypothesis-built model is made of (written by :func:`write_graph_case`)."""

    op: str
    input_name: str
    output_name: str
    dtype: int
    dims: tuple[int | str | None, ...] | None
    weight_dims: tuple[int, ...]
    external: tuple[tuple[str, str], ...] | None  # external-data key/values, None: inline
    data_bytes: int  # length of w.bin
    raw_extra: int  # bytes added to (or cut from) an inline weight's raw data
    opset: int
    ir_version: int
    file_name: str = "model.onnx"
    offset: int = 0  # where the weight's bytes start in w.bin
    faults: tuple[str, ...] = ()


@st.composite
def graph_cases(draw: st.DrawFn) -> GraphCase:
    """A small valid model (one op, one weight, maybe in external data) with 0-2 faults."""
    faults = tuple(sorted(draw(st.sets(st.sampled_from(FAULTS), max_size=2))))
    op = draw(st.sampled_from(sorted(_OP_DTYPES)))
    x = draw(_BAD_NAMES if "name" in faults else _VALID_NAMES)
    y = x if "same_names" in faults else draw(_VALID_NAMES).replace(x, "") + "_out"
    dtype = draw(st.sampled_from(_OP_DTYPES[op]))
    if "dtype" in faults:
        dtype = draw(_BAD_DTYPES)
    elif "op_dtype" in faults:
        dtype = draw(_ANY_DTYPES)
    rank = 0 if op == "If" else draw(st.integers(1, 4))
    dims: list[int | str | None] = [draw(_VALID_DIMS) for _ in range(rank)]
    if op == "Reshape":
        dims = [2, 3]  # reshaped to the weight's values (3, 2)
    if "dynamic" in faults and dims:
        dims[draw(st.integers(0, len(dims) - 1))] = draw(st.sampled_from(["N", "batch", "é"]))
    if "dims" in faults:
        dims.insert(draw(st.integers(0, len(dims))), draw(_BAD_DIMS))
    weight_dims: tuple[int, ...] = (2,) if op == "Reshape" else (1,)
    if "weight_dims" in faults:
        weight_dims = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    size = 8 if op == "Reshape" else 4  # bytes per element: int64 shape, float weight
    for d in weight_dims:
        size *= d
    offset = draw(st.sampled_from([0, 0, 4, 8, 64]))
    external: list[tuple[str, str]] | None = None
    if draw(st.booleans()) or {"location", "offset", "length", "short_data"} & set(faults):
        location = draw(_BAD_LOCATIONS) if "location" in faults else "w.bin"
        external = [("location", location)]
        if offset or "offset" in faults or draw(st.booleans()):
            external.append(("offset", draw(_BAD_NUMBERS) if "offset" in faults else str(offset)))
        if "length" in faults or draw(st.booleans()):
            external.append(("length", draw(_BAD_NUMBERS) if "length" in faults else str(size)))
        if "extra_key" in faults:
            key = draw(st.sampled_from(["checksum", "foo", "location", "offset", "", "length"]))
            external.insert(draw(st.integers(0, len(external))), (key, draw(_BAD_NUMBERS)))
    data_bytes = offset + size
    if "short_data" in faults:
        data_bytes = draw(st.integers(0, max(data_bytes - 1, 0)))
    return GraphCase(
        op=op,
        input_name=x,
        output_name=y,
        dtype=dtype,
        dims=tuple(dims),
        weight_dims=weight_dims,
        external=None if external is None else tuple(external),
        data_bytes=data_bytes,
        raw_extra=draw(st.sampled_from([-4, -1, 1, 4])) if "raw_size" in faults else 0,
        opset=draw(st.sampled_from([99, 1, 0, 7, 6])) if "opset" in faults else
        draw(st.sampled_from([13, 17, 11])),
        ir_version=draw(st.sampled_from([99, 3, 0, 2])) if "ir_version" in faults else 8,
        file_name=draw(st.sampled_from(["QZXJ.onnx", "é.onnx", "m odel.onnx", "-m.onnx"]))
        if "file_name" in faults else "model.onnx",
        offset=offset,
        faults=faults,
    )  # fmt: skip


def _payload(case: GraphCase) -> bytes:
    """The weight's right bytes: int64 (3, 2, ...) for Reshape's shape, float ones otherwise."""
    count = 1
    for d in case.weight_dims:
        count *= d
    if case.op == "Reshape":
        values = [3, 2] + [1] * max(count - 2, 0)
        return b"".join(v.to_bytes(8, "little", signed=True) for v in values[:count])
    return b"\x00\x00\x80\x3f" * count  # float32 1.0


def _weight(case: GraphCase) -> TensorProto:
    data_type = TensorProto.INT64 if case.op == "Reshape" else TensorProto.FLOAT
    tensor = TensorProto(name="w", data_type=data_type, dims=list(case.weight_dims))
    payload = _payload(case)
    if case.external is None:
        extra = case.raw_extra
        tensor.raw_data = payload[: len(payload) + extra] if extra < 0 else payload + bytes(extra)
        return tensor
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in case.external:
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def build_graph_case(case: GraphCase) -> bytes:
    """The serialized model of ``case``; placeholder names become non-UTF-8 bytes."""
    x, y = case.input_name, case.output_name
    shape = None if case.dims is None else list(case.dims)
    nodes = []
    inputs = [helper.make_tensor_value_info(x, case.dtype, shape)]
    if case.op == "Add":
        nodes.append(helper.make_node("Add", [x, "w"], [y]))
    elif case.op == "Cast":
        nodes.append(helper.make_node("Cast", [x], [y], to=TensorProto.FLOAT))
    elif case.op == "Reshape":
        nodes.append(helper.make_node("Reshape", [x, "w"], [y]))
    elif case.op == "If":
        branch = [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)]
        then = helper.make_graph([helper.make_node("Identity", ["w"], ["b"])], "t", [], branch)
        other = helper.make_graph([helper.make_node("Neg", ["w"], ["b"])], "e", [], branch)
        nodes.append(helper.make_node("If", [x], [y], then_branch=then, else_branch=other))
    else:
        nodes.append(helper.make_node(case.op, [x], [y]))
    same = case.op in ("Identity", "Relu", "Not")
    out_shape = {"If": [1], "Reshape": [3, 2]}.get(case.op, shape)
    output = helper.make_tensor_value_info(y, case.dtype if same else TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "fuzz", inputs, [output], initializer=[_weight(case)])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", case.opset)], ir_version=case.ir_version
    )
    data = model.SerializeToString()
    # Same length, so every length prefix in the protobuf stays right.
    return data.replace(_NAME_TOKEN.encode(), _BAD_NAME[:4])


def write_graph_case(case: GraphCase, folder: Path) -> Path:
    """Write the model of ``case`` (and a ``w.bin`` of ``case.data_bytes``) into ``folder``."""
    name = os.fsencode(case.file_name).replace(_NAME_TOKEN.encode(), _BAD_NAME[:4])
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
    path.write_bytes(build_graph_case(case))
    data = bytes(case.offset) + _payload(case)
    (folder / "w.bin").write_bytes(
        data[: case.data_bytes] + bytes(max(case.data_bytes - len(data), 0))
    )
    return path


# --------------------------------------------------------------------------------------------
# Running cases: one worker process, in-process CLI calls, a deadline per case.


@dataclass
class Outcome:
    """What one case did."""

    code: int | str  # exit code, or "hang" / "crash" (the worker died) / "memory" (stopped)
    traceback: bool = False
    modified: bool = False
    stderr: str = ""
    argv: tuple[str, ...] = ()
    noisy: bool = False  # stderr holds more than one line besides nnport's own warnings


@dataclass
class Tally:
    """Counts over many cases."""

    cases: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    tracebacks: int = 0
    hangs: int = 0
    crashes: int = 0
    by_verb: Counter[str] = field(default_factory=Counter)  # "verb exit-code" -> cases
    over_memory: int = 0  # stopped past Runner.max_rss: reported, not a broken promise
    modified: int = 0
    noisy: int = 0
    noisy_examples: list[Outcome] = field(default_factory=list)
    bad: list[Outcome] = field(default_factory=list)  # exit 3, tracebacks, hangs, modified

    def add(self, outcome: Outcome) -> None:
        """Count ``outcome``; keep it when it breaks a promise."""
        self.cases += 1
        self.codes[str(outcome.code)] += 1
        self.by_verb[f"{outcome.argv[0] if outcome.argv else '?'} {outcome.code}"] += 1
        self.tracebacks += outcome.traceback
        self.hangs += outcome.code == "hang"
        self.crashes += outcome.code == "crash"
        self.over_memory += outcome.code == "memory"
        self.modified += outcome.modified
        self.noisy += outcome.noisy
        if outcome.noisy and len(self.noisy_examples) < 20:
            self.noisy_examples.append(outcome)
        if outcome.code in (3, "hang", "crash") or outcome.traceback or outcome.modified:
            self.bad.append(outcome)

    def summary(self) -> dict[str, Any]:
        """The counts as plain data."""
        return {
            "cases": self.cases,
            "exit_codes": dict(sorted(self.codes.items())),
            "exit_3": self.codes.get("3", 0),
            "tracebacks": self.tracebacks,
            "hangs": self.hangs,
            "crashes": self.crashes,
            "stopped_over_memory": self.over_memory,
            "modified_inputs": self.modified,
            "stderr_over_one_line": self.noisy,
            "by_verb": dict(sorted(self.by_verb.items())),
        }


def _digest(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder``, by relative path."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = os.fsencode(path.relative_to(folder)).hex()
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _run_in_process(argv: list[str], cwd: Path) -> tuple[int | str, str, str]:
    """Run ``nnport ARGV`` through the console-script entry point, capturing fds 1 and 2."""
    from nnport.cli.app import main

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        old = Path.cwd()
        try:
            os.chdir(cwd)
            code: int | str = main(argv)
        except BaseException as exc:  # anything escaping main() is a finding
            import traceback

            traceback.print_exc()
            code = f"escaped {type(exc).__name__}"
        finally:
            os.chdir(old)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        err.seek(0)
        err_text = err.read().decode("utf-8", "replace")
        out.seek(0)
        out_text = out.read().decode("utf-8", "replace")
    return code, out_text, err_text


def _rss(pid: int) -> int:
    """Resident bytes of process ``pid`` (0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return 0


def _worker(conn: multiprocessing.connection.Connection, max_memory: int) -> None:
    import resource

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # A case asking for more memory gets a MemoryError (which nnport must report as exit 2)
    # rather than the kernel's OOM killer on a shared machine.
    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    while True:
        try:
            argv, cwd = conn.recv()
        except EOFError:
            return
        conn.send(_run_in_process(argv, Path(cwd)))


class Runner:
    """Runs cases in a worker process; a case past ``timeout`` s is a hang (worker restarted)."""

    def __init__(self, timeout: float = 120.0, max_memory: int = 8 << 30) -> None:
        self.timeout = timeout
        self.max_memory = max_memory  # address space of the worker (RLIMIT_AS)
        self.max_rss = max_memory // 2
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: multiprocessing.connection.Connection | None = None

    def _start(self) -> multiprocessing.connection.Connection:
        if self._conn is None:
            parent, child = self._ctx.Pipe()
            self._proc = self._ctx.Process(
                target=_worker, args=(child, self.max_memory), daemon=True
            )
            self._proc.start()
            child.close()
            self._conn = parent
        return self._conn

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def close(self) -> None:
        """End the worker."""
        self._stop()

    def _wait(self, conn: multiprocessing.connection.Connection) -> str:
        """Wait for the worker: "done" when it answers, "hang" past the deadline, "memory" when
        it holds more than ``max_rss`` bytes (a valid model can ask for any amount at run time;
        the machine is shared, so such a case is stopped and counted, not run to the end)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if conn.poll(0.5):
                return "done"
            if _rss(self._proc.pid) > self.max_rss:
                return "memory"
        return "hang"

    def run(self, folder: Path, argv: list[str]) -> Outcome:
        """Run ``argv`` with the files in ``folder`` as its inputs (hashed before and after)."""
        before = _digest(folder)
        cwd = folder.parent / "cwd"
        cwd.mkdir(exist_ok=True)
        conn = self._start()
        conn.send((argv, str(cwd)))
        code: int | str
        out = err = ""
        code = self._wait(conn)
        if code == "done":
            try:
                code, out, err = conn.recv()
            except (EOFError, OSError):  # the worker died mid-case
                code = "crash"
                self._stop()
        else:
            self._stop()
        modified = _digest(folder) != before
        traceback = "Traceback (most recent call last)" in out + err
        # nnport's own warnings (``WARNING nnport.x: ...``) may precede its line; nothing else
        own = ("WARNING nnport.", "ERROR nnport.")
        noisy = len([ln for ln in err.splitlines() if ln.strip() and not ln.startswith(own)]) > 1
        return Outcome(code, traceback, modified, err[-2000:], tuple(argv), noisy)


def run_case(
    runner: Runner, root: Path, rng: random.Random, make: Any, keep: Path | None = None
) -> Outcome:
    """Write one case with ``make(folder) -> model path`` under ``root`` and run it; a case
    that breaks a promise is copied to ``keep`` (its inputs and argv.txt) to reproduce it."""
    if root.exists():
        shutil.rmtree(root)
    folder = root / "in"
    out = root / "out"
    folder.mkdir(parents=True)
    out.mkdir()
    model = make(folder)
    argv = command_for(rng.choice(VERBS), model, out, rng)
    outcome = runner.run(folder, argv)
    broken = outcome.code in (3, "hang", "crash") or outcome.traceback or outcome.modified
    if keep is not None and (broken or outcome.noisy or outcome.code == "memory"):
        keep.mkdir(parents=True, exist_ok=True)
        saved = Path(tempfile.mkdtemp(prefix="case-", dir=keep))
        shutil.copytree(folder, saved / "in")
        (saved / "argv.txt").write_text(repr(argv) + "\n" + outcome.stderr)
    return outcome


def mutation_maker(rng: random.Random) -> Any:
    """``make`` for :func:`run_case`: a byte-mutated example."""
    return lambda folder: write_mutated_example(folder, rng)


def graph_maker(case: GraphCase) -> Any:
    """``make`` for :func:`run_case`: a Hypothesis-built graph."""
    return lambda folder: write_graph_case(case, folder)


def loads_at_all(path: Path) -> bool:
    """Whether onnx can parse ``path`` (used to report how many mutants still parse)."""
    with contextlib.suppress(Exception):
        onnx.load_model_from_string(path.read_bytes())
        return True
    return False
