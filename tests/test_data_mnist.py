"""``nnport data mnist``: download from a mirror, verify by SHA-256, and fail clearly offline.

No test here reaches the internet: the mirrors are a local HTTP server and file:// folders
serving the MNIST copy the suite uses, and a closed port stands for a machine without network.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nnport.data.idx import load_mnist
from nnport.data.mnist_download import FILES, download_mnist, verify_file
from nnport.errors import DatasetError


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more: connection refused


@pytest.fixture
def http_mirror(mnist_dir: Path) -> Iterator[str]:
    """An HTTP server on localhost serving the MNIST folder, as a mirror does."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(mnist_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_over_http_and_verify(http_mirror: str, tmp_path: Path) -> None:
    out = tmp_path / "mnist"
    result = download_mnist(out, mirrors=(_closed_port_url(), http_mirror))
    assert result.downloaded == 4
    assert {f.name for f in result.files} == set(FILES)
    assert all(f.source.startswith(http_mirror.rstrip("/")) for f in result.files)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.gz" for n in FILES)
    test = load_mnist(out, "test")
    assert len(test) == 10000 and test.images.shape[1:] == (28, 28)


def test_files_already_there_verify_without_network(cli, mnist_dir: Path, tmp_path: Path) -> None:
    out = shutil.copytree(mnist_dir, tmp_path / "copy")
    run = cli("data", "mnist", "-o", out, "--mirror", _closed_port_url())
    assert run.code == 0, run.err
    assert "nothing to download, all 4 verified" in " ".join(run.out.split())


def test_offline_is_one_clear_line_and_leaves_nothing(cli, tmp_path: Path) -> None:
    out = tmp_path / "mnist"
    url = _closed_port_url()
    run = cli("data", "mnist", "-o", out, "--mirror", url)
    assert run.code == 2
    err = " ".join(run.err.split())
    assert "could not download train-images-idx3-ubyte.gz from any mirror" in err
    assert f"{url}train-images-idx3-ubyte.gz" in err and "refused" in err.lower()
    assert "no network here?" in err and "Traceback" not in run.err
    assert not out.exists()


def test_a_mirror_serving_other_bytes_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in FILES:
        (bad / f"{name}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03not mnist"))
    out = tmp_path / "mnist"
    with pytest.raises(DatasetError, match="is not MNIST's train-images-idx3-ubyte: its data has"):
        download_mnist(out, mirrors=(bad.as_uri() + "/",))
    assert not out.exists()  # no .part file, no half-verified download


def test_verify_names_the_damaged_file(mnist_dir: Path, tmp_path: Path) -> None:
    name = "t10k-labels-idx1-ubyte"
    good = mnist_dir / f"{name}.gz"
    assert verify_file(good, name) == FILES[name][0]
    data = bytearray(gzip.decompress(good.read_bytes()))
    data[-1] ^= 1  # one label changed
    damaged = tmp_path / f"{name}.gz"
    damaged.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DatasetError, match=f"{damaged} is not MNIST's {name}"):
        verify_file(damaged, name)
    raw = tmp_path / name  # raw (gunzipped) files verify as well
    raw.write_bytes(gzip.decompress(good.read_bytes()))
    assert verify_file(raw, name) == FILES[name][0]


def test_a_damaged_file_in_the_folder_is_fetched_again(mnist_dir: Path, tmp_path: Path) -> None:
    out = shutil.copytree(mnist_dir, tmp_path / "copy")
    (out / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    result = download_mnist(out, mirrors=(mnist_dir.as_uri() + "/",))
    assert result.downloaded == 1
    assert verify_file(out / "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte")
