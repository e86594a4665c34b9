"""Tests of xr_s5sr.weights: file format, registry, resolution, pooch download, model cache."""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from xr_s5sr import weights
from xr_s5sr.errors import (
    BandError,
    ChannelMismatchError,
    OutputExistsError,
    OutputPathError,
    WeightsError,
)
from xr_s5sr.models import S5DSCR, fold_batchnorm

#: A URL nothing listens on (TCP port 9, "discard"): any unexpected download fails at once.
UNREACHABLE = "http://127.0.0.1:9/"


def tiny_model(residual: str = "paper", seed: int = 0, layers: int = 1) -> S5DSCR:
    """Small S5DSCR whose every tensor (incl. BN statistics, normalisation) differs from init."""
    torch.manual_seed(seed)
    model = S5DSCR(channels=6, layers=layers, kernel_size=3, multiplier=1, residual=residual)  # type: ignore[arg-type]
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor))
    model.set_normalisation(torch.linspace(1e-7, 2e-7, 6), torch.linspace(1e-8, 3e-8, 6))
    return model.eval()


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@dataclass
class Store:
    """A temporary weights directory with its registry, wired into the weights module."""

    weights_dir: Path
    registry: Path
    cache: Path
    digests: dict[str, str]

    def file(self, band: int = 3) -> Path:
        return self.weights_dir / weights.weights_filename(band, "s5dscr_s")


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    weights.clear_model_cache()
    yield
    weights.clear_model_cache()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    digests = {}
    for band, seed in ((3, 0), (7, 1)):
        name = weights.weights_filename(band, "s5dscr_s")
        digests[name] = weights.save_weights(
            tiny_model(seed=seed), weights_dir / name, band=band, model_name="s5dscr_s"
        )
    (weights_dir / weights.card_filename(3, "s5dscr_s")).write_text('{"band": 3}\n')
    (weights_dir / "README.md").write_text("not in the registry\n")
    registry = tmp_path / "registry.txt"
    weights.update_registry(weights_dir, registry)
    cache = tmp_path / "cache"
    monkeypatch.setattr(weights, "REGISTRY_FILE", registry)
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", None)
    monkeypatch.setattr(weights, "DOWNLOAD_RETRIES", 0)
    monkeypatch.setenv("XR_S5SR_DATA_DIR", str(cache))
    monkeypatch.setenv("XR_S5SR_WEIGHTS_URL", UNREACHABLE)
    monkeypatch.delenv("XR_S5SR_OFFLINE", raising=False)
    return Store(weights_dir, registry, cache, digests)


@dataclass
class Server:
    root: Path
    requests: list[str]


@pytest.fixture
def server(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """Loopback HTTP server serving a temporary copy of the weights directory."""
    # Files under a sub-path, and a base URL without trailing slash, as a mirror might be set up.
    root = tmp_path / "served" / "w"
    shutil.copytree(store.weights_dir, root)
    seen: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root.parent))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("XR_S5SR_WEIGHTS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/w")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    try:
        yield Server(root, seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------ names


def test_filenames() -> None:
    assert weights.weights_filename(7) == "s5dscr_band7.safetensors"
    assert weights.weights_filename(3, "s5dscr_s") == "s5dscr_s_band3.safetensors"
    assert weights.card_filename(2, "s5dscr_s") == "s5dscr_s_band2.json"


@pytest.mark.parametrize("name", ["../evil", "S5DSCR", "", "a b"])
def test_filename_rejects_bad_model_name(name: str) -> None:
    with pytest.raises(WeightsError, match=r"Invalid model name"):
        weights.weights_filename(3, name)


def test_filename_rejects_band_1() -> None:
    with pytest.raises(BandError, match=r"not supported for super-resolution"):
        weights.weights_filename(1)


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"xr_s5sr" * 1000)
    assert weights.file_sha256(path) == hashlib.sha256(b"xr_s5sr" * 1000).hexdigest()
    with pytest.raises(WeightsError, match=r"Cannot read .*missing.bin"):
        weights.file_sha256(tmp_path / "missing.bin")


# ------------------------------------------------------------------------------- save/load


@pytest.mark.parametrize("residual", ["paper", "signed"])
def test_round_trip_is_exact(tmp_path: Path, residual: str) -> None:
    model = tiny_model(residual, layers=2)
    path = tmp_path / "m.safetensors"
    digest = weights.save_weights(model, path, band=5, model_name="tiny")
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = weights.load_weights_file(path, band=5, expected_sha256=digest, channels=6)
    assert not loaded.training
    assert loaded.config == model.config
    assert_same_state(model, loaded)
    x = torch.rand(1, 6, 5, 7) * 3e-7
    assert torch.equal(model(x), loaded(x))


def test_metadata(tmp_path: Path) -> None:
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    weights.save_weights(model, path, band=8, model_name="s5dscr", metadata={"epochs": "3"})
    meta = weights.read_metadata(path)
    assert meta["format"] == weights.WEIGHTS_FORMAT == "xr_s5sr-weights-1"
    assert meta["band"] == "8"
    assert meta["model"] == "s5dscr"
    assert json.loads(meta["config"]) == model.config.to_dict()
    assert meta["package_version"] == __import__("xr_s5sr").__version__
    assert meta["epochs"] == "3"


def test_save_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    first = weights.save_weights(tiny_model(seed=0), path, band=3, model_name="tiny")
    with pytest.raises(OutputExistsError, match=r"already exists.*overwrite=True"):
        weights.save_weights(tiny_model(seed=1), path, band=3, model_name="tiny")
    assert weights.file_sha256(path) == first
    second = weights.save_weights(
        tiny_model(seed=1), path, band=3, model_name="tiny", overwrite=True
    )
    assert second != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


@pytest.mark.parametrize(
    ("metadata", "match"),
    [({"band": "4"}, r"\['band'\] are reserved"), ({"epochs": 3}, "must map str to str")],
)
def test_save_rejects_bad_metadata(tmp_path: Path, metadata: dict, match: str) -> None:
    with pytest.raises(WeightsError, match=match):
        weights.save_weights(
            tiny_model(), tmp_path / "m.safetensors", band=3, model_name="t", metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_folded_model(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"Save the unfolded model"):
        weights.save_weights(
            fold_batchnorm(tiny_model()), tmp_path / "m.safetensors", band=3, model_name="t"
        )


def test_save_rejects_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"does not exist"):
        weights.save_weights(
            tiny_model(), tmp_path / "no" / "m.safetensors", band=3, model_name="t"
        )


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"previous file")

    def interrupted(tensors: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"half a fi")
        raise OSError("No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", interrupted)
    with pytest.raises(OutputPathError, match=r"Cannot write .*No space left"):
        weights.save_weights(tiny_model(), path, band=3, model_name="t", overwrite=True)
    assert path.read_bytes() == b"previous file"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "m.safetensors"
    return path, weights.save_weights(tiny_model(), path, band=3, model_name="tiny")


def test_load_refuses_torch_save_zip(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(tiny_model().state_dict(), path)
    with pytest.raises(WeightsError, match=r"zip archive \(torch.save.*refused for safety"):
        weights.load_weights_file(path)


def test_load_refuses_legacy_pickle(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save(tiny_model().state_dict(), path, _use_new_zipfile_serialization=False)
    with pytest.raises(WeightsError, match=r"is a pickle.*weights_only=True"):
        weights.read_metadata(path)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-100]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: flip_byte(p, 12), id="header-flipped"),
    ],
)
def test_load_refuses_corrupt_file(
    saved: tuple[Path, str], damage: Callable[[Path], object]
) -> None:
    path, _ = saved
    damage(path)
    with pytest.raises(WeightsError, match=r"m.safetensors is corrupt or truncated"):
        weights.load_weights_file(path)


def test_load_checks_sha256(saved: tuple[Path, str]) -> None:
    path, digest = saved
    flip_byte(path, path.stat().st_size - 3)  # a weight value: still a valid safetensors file
    with pytest.raises(
        WeightsError, match=rf"sha256 mismatch for .*m.safetensors: expected {digest}"
    ):
        weights.load_weights_file(path, expected_sha256=digest)


def test_load_checks_band(saved: tuple[Path, str]) -> None:
    with pytest.raises(WeightsError, match=r"holds weights for band 3, but band 7 was requested"):
        weights.load_weights_file(saved[0], band=7)


def test_load_checks_channels(saved: tuple[Path, str]) -> None:
    with pytest.raises(ChannelMismatchError, match=r"expect 6 spectral channels.*has 497"):
        weights.load_weights_file(saved[0], channels=497)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"nope.safetensors not found"):
        weights.load_weights_file(tmp_path / "nope.safetensors")


def _rewrite(path: Path, **changes: str | None) -> None:
    """Re-save the tensors of ``path`` with edited metadata (None removes a key)."""
    meta = weights.read_metadata(path)
    tensors = weights.load_weights_file(path).state_dict()
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    save_file(dict(tensors), str(path), metadata=meta)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"format": None}, "not an xr_s5sr weights file: expected metadata format"),
        ({"config": "{not json"}, "unusable model config"),
        ({"config": "[6, 1, 3, 1]"}, "unusable model config"),
        (
            {"config": json.dumps({**tiny_model().config.to_dict(), "layers": 2})},
            "do not match its model config",
        ),
    ],
)
def test_load_rejects_bad_content(saved: tuple[Path, str], changes: dict, match: str) -> None:
    _rewrite(saved[0], **changes)
    with pytest.raises(WeightsError, match=match):
        weights.load_weights_file(saved[0])


# ---------------------------------------------------------------------------------- registry


def test_update_registry(store: Store) -> None:
    lines = store.registry.read_text().splitlines()
    entries = dict(line.split(" ") for line in lines if not line.startswith("#"))
    assert entries == {
        "s5dscr_s_band3.json": "sha256:"
        + hashlib.sha256(
            store.weights_dir.joinpath("s5dscr_s_band3.json").read_bytes()
        ).hexdigest(),
        **{name: f"sha256:{digest}" for name, digest in store.digests.items()},
    }
    assert list(entries) == sorted(entries)
    assert weights.available_weights() == [(3, "s5dscr_s"), (7, "s5dscr_s")]
    store.file(7).unlink()
    weights.update_registry(store.weights_dir, store.registry)
    assert weights.available_weights() == [(3, "s5dscr_s")]


def test_update_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"does not exist or is not a directory"):
        weights.update_registry(tmp_path / "missing", tmp_path / "registry.txt")
    (tmp_path / "a b.json").write_text("{}")
    with pytest.raises(WeightsError, match=r"cannot contain whitespace, found \['a b.json'\]"):
        weights.update_registry(tmp_path, tmp_path / "registry.txt")


def test_shipped_registry_parses() -> None:
    # The packaged registry must stay loadable by pooch whatever it lists.
    assert all(band in range(2, 9) for band, _ in weights.available_weights())


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("s5dscr_s_band3.safetensors", "Cannot read the weights registry"),
        ("s5dscr_s_band3.safetensors md5:0123", "expected 'sha256:<hex>'"),
    ],
)
def test_bad_registry(store: Store, line: str, match: str) -> None:
    store.registry.write_text(line + "\n")
    with pytest.raises(WeightsError, match=match):
        weights.resolve_weights(3, "s5dscr_s")


# -------------------------------------------------------------------------------- resolution


def test_resolve_explicit_file(store: Store) -> None:
    spec = weights.resolve_weights(3, "s5dscr", store.file(3))
    assert spec == weights.WeightsSpec(
        str(store.file(3).resolve()), store.digests[store.file(3).name], 3, "s5dscr_s"
    )


def test_resolve_explicit_file_is_trusted_by_path(store: Store, tmp_path: Path) -> None:
    # Same name as a registry entry, different content: a file named by the user is not
    # compared with the registry.
    mine = tmp_path / "mine"
    mine.mkdir()
    path = mine / store.file(3).name
    digest = weights.save_weights(tiny_model(seed=9), path, band=3, model_name="s5dscr_s")
    assert weights.resolve_weights(3, "s5dscr_s", mine).sha256 == digest


@pytest.mark.parametrize(
    ("band", "name", "match"),
    [
        (7, "s5dscr_s_band3.safetensors", "holds weights for band 3, but band 7 was requested"),
        (3, "missing.safetensors", "missing.safetensors not found"),
    ],
)
def test_resolve_explicit_file_errors(store: Store, band: int, name: str, match: str) -> None:
    with pytest.raises(WeightsError, match=match):
        weights.resolve_weights(band, weights=store.weights_dir / name)


def test_resolve_not_in_registry(store: Store) -> None:
    with pytest.raises(
        WeightsError,
        match=r"No shipped weights for band 5, model 's5dscr'.*\(band=3, model='s5dscr_s'\), "
        r"\(band=7, model='s5dscr_s'\)",
    ):
        weights.resolve_weights(5)
    store.registry.write_text("# nothing yet\n")
    with pytest.raises(WeightsError, match=r"lists no weights files"):
        weights.resolve_weights(3, "s5dscr_s")


def test_resolve_band_1() -> None:
    with pytest.raises(BandError, match=r"Band 1 is not supported"):
        weights.resolve_weights(1)


def test_resolve_from_checkout(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", store.weights_dir)
    spec = weights.resolve_weights(7, "s5dscr_s")  # the download URL is unreachable
    assert spec.path == str(store.file(7).resolve())
    assert spec.sha256 == store.digests[store.file(7).name]
    assert spec.band == 7
    assert not store.cache.exists()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-10]), id="truncated"),
        pytest.param(lambda p: flip_byte(p, p.stat().st_size - 1), id="flipped"),
        pytest.param(
            lambda p: shutil.copy(p.with_name("s5dscr_s_band7.safetensors"), p), id="band"
        ),
    ],
)
def test_resolve_checkout_mismatch(
    store: Store, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], object]
) -> None:
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", store.weights_dir)
    path = store.file(3)
    damage(path)
    found = weights.file_sha256(path)
    expected = store.digests[path.name]
    with pytest.raises(
        WeightsError,
        match=rf"sha256 mismatch for {re.escape(str(path))}: expected {expected} \(registry\), "
        rf"found {found}.*"
        "git checkout weights/",
    ):
        weights.resolve_weights(3, "s5dscr_s")


def test_resolve_offline_empty_cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WeightsError, match=r"not available offline.*fetch-weights --band 3"):
        weights.resolve_weights(3, "s5dscr_s", offline=True)
    monkeypatch.setenv("XR_S5SR_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"not available offline.*XR_S5SR_DATA_DIR"):
        weights.resolve_weights(3, "s5dscr_s")
    assert not store.cache.exists()


def test_resolve_offline_from_cache(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.cache.mkdir()
    shutil.copy(store.file(3), store.cache)
    monkeypatch.setenv("XR_S5SR_OFFLINE", "yes")
    spec = weights.resolve_weights(3, "s5dscr_s")
    assert spec.path == str((store.cache / store.file(3).name).resolve())
    flip_byte(store.cache / store.file(3).name, 20)
    with pytest.raises(WeightsError, match=r"sha256 mismatch for the cached .*Offline mode"):
        weights.resolve_weights(3, "s5dscr_s")


def test_resolve_cache_not_writable(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("XR_S5SR_DATA_DIR", str(blocker / "cache"))
    with pytest.raises(WeightsError, match=r"Cannot write the weights cache.*Set XR_S5SR_DATA_DIR"):
        weights.resolve_weights(3, "s5dscr_s")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_resolve_cache_not_readable(store: Store) -> None:
    store.cache.mkdir()
    shutil.copy(store.file(3), store.cache)
    store.cache.chmod(0)
    try:
        with pytest.raises(WeightsError, match=r"Cannot read the weights cache"):
            weights.resolve_weights(3, "s5dscr_s")
    finally:
        store.cache.chmod(0o755)


# ----------------------------------------------------------------------------- download


@pytest.mark.network
def test_download_and_cache_hit(store: Store, server: Server) -> None:
    spec = weights.resolve_weights(3, "s5dscr_s")
    cached = store.cache / "s5dscr_s_band3.safetensors"
    assert spec == weights.WeightsSpec(
        str(cached.resolve()), store.digests[cached.name], 3, "s5dscr_s"
    )
    assert weights.file_sha256(cached) == spec.sha256
    assert server.requests == ["/w/s5dscr_s_band3.safetensors"]
    assert weights.resolve_weights(3, "s5dscr_s") == spec
    assert len(server.requests) == 1


@pytest.mark.network
def test_download_wrong_hash(store: Store, server: Server) -> None:
    flip_byte(server.root / "s5dscr_s_band3.safetensors", 200)
    expected = store.digests["s5dscr_s_band3.safetensors"]
    with pytest.raises(
        WeightsError, match=rf"does not have the sha256 of the registry, {expected}"
    ):
        weights.resolve_weights(3, "s5dscr_s")
    assert list(store.cache.iterdir()) == []


@pytest.mark.network
def test_download_missing_on_server(store: Store, server: Server) -> None:
    (server.root / "s5dscr_s_band7.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"Could not download s5dscr_s_band7.safetensors.*404"):
        weights.resolve_weights(7, "s5dscr_s")


@pytest.mark.network
def test_corrupt_cache_is_downloaded_again(store: Store, server: Server) -> None:
    store.cache.mkdir()
    cached = store.cache / "s5dscr_s_band3.safetensors"
    cached.write_bytes(store.file(3).read_bytes()[:-50])
    with pytest.warns(UserWarning, match=r"sha256 mismatch for the cached.*downloading it again"):
        spec = weights.resolve_weights(3, "s5dscr_s")
    assert weights.file_sha256(cached) == spec.sha256 == store.digests[cached.name]
    assert len(server.requests) == 1


@pytest.mark.network
def test_fetch_weights(store: Store, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = weights.fetch_weights(bands=3, progress=False)
    assert paths == [
        store.cache / "s5dscr_s_band3.safetensors",
        store.cache / "s5dscr_s_band3.json",
    ]
    assert all(
        weights.file_sha256(p) == weights.file_sha256(store.weights_dir / p.name) for p in paths
    )
    paths = weights.fetch_weights(models=["s5dscr_s"], progress=False)
    assert [p.name for p in paths] == [
        "s5dscr_s_band3.safetensors",
        "s5dscr_s_band3.json",
        "s5dscr_s_band7.safetensors",
    ]
    assert len(server.requests) == 3  # band 3 was already cached
    with pytest.raises(WeightsError, match=r"No shipped weights for bands=5"):
        weights.fetch_weights(bands=5)
    monkeypatch.setenv("XR_S5SR_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"offline mode is set"):
        weights.fetch_weights()


def test_placeholder_url_is_not_tried(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a configured server the default (unpublished) URL is not downloaded from three
    times: the error says so at once, and where the installed weights are."""
    monkeypatch.delenv("XR_S5SR_WEIGHTS_URL")
    monkeypatch.setattr(weights, "DOWNLOAD_RETRIES", 2)
    calls: list[object] = []
    monkeypatch.setattr(weights.pooch.Pooch, "fetch", lambda *a, **k: calls.append(a))
    with pytest.raises(WeightsError, match=r"no download server is configured .* placeholder"):
        weights.fetch_weights(bands=3, progress=False)
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", tmp_path)
    with pytest.raises(
        WeightsError, match=f"come with this installation in {re.escape(str(tmp_path))}"
    ):
        weights.fetch_weights(bands=3, progress=False)
    assert calls == []
    assert not store.cache.exists() or list(store.cache.iterdir()) == []


# --------------------------------------------------------------------------------- models


def test_load_model(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", store.weights_dir)
    model = weights.load_model(7, "s5dscr_s")
    assert not model.training
    assert_same_state(model, tiny_model(seed=1))
    assert weights.load_model(7, "s5dscr_s") is not model  # fresh, uncached


def test_cached_model(store: Store) -> None:
    spec = weights.resolve_weights(3, weights=store.file(3))
    folded = weights.cached_model(spec)
    assert weights.cached_model(spec) is folded
    plain = weights.cached_model(spec, fold_bn=False)
    assert plain is not folded
    assert not folded.training
    assert not any(p.requires_grad for p in folded.parameters())
    x = torch.rand(1, 6, 4, 5) * 3e-7
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), tiny_model()(x), rtol=1e-5, atol=1e-12)
        assert torch.equal(plain(x), tiny_model()(x))


def test_cached_model_verifies_sha256(store: Store) -> None:
    spec = weights.resolve_weights(3, weights=store.file(3))
    bad = weights.WeightsSpec(spec.path, "0" * 64, spec.band, spec.model)
    with pytest.raises(WeightsError, match=r"sha256 mismatch"):
        weights.cached_model(bad)


def test_cached_model_threads_load_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = weights.resolve_weights(3, weights=store.file(3))
    calls = []
    original = weights.load_weights_file

    def slow_load(*args: object, **kwargs: object) -> S5DSCR:
        calls.append(1)
        time.sleep(0.1)  # widen the window in which an unlocked cache would load twice
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(weights, "load_weights_file", slow_load)
    barrier = threading.Barrier(2)
    results: list[S5DSCR] = []

    def worker() -> None:
        barrier.wait()
        results.append(weights.cached_model(spec))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert results[0] is results[1]
    assert len(calls) == 1


def test_saved_weights_are_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    weights.save_weights(tiny_model(), path, band=3, model_name="s5dscr_s")
    # Like any file the user creates (safetensors itself would create it 0600).
    assert path.stat().st_mode & 0o777 == 0o666 & ~weights._UMASK


def test_safetensors_header_that_looks_like_a_pickle_opcode(tmp_path: Path) -> None:
    """A header length of 0x280, 0x380, ... starts with the bytes 80 02..05 (pickle magic)."""
    model = tiny_model()
    path = tmp_path / "w.safetensors"
    weights.save_weights(model, path, band=3, model_name="s5dscr_s")
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    # Pad the JSON header with spaces (allowed by the format; data offsets are relative to the
    # end of the header) to the next length whose first byte is 0x80 and second 2..5.
    padded = min(n for n in (0x280, 0x380, 0x480, 0x580) if n >= length)
    header = raw[8 : 8 + length].ljust(padded, b" ")
    path.write_bytes(padded.to_bytes(8, "little") + header + raw[8 + length :])
    assert path.read_bytes()[:2] in {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}
    loaded = weights.load_weights_file(path, band=3)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


def test_unreadable_weights_cache_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chmod tests are skipped as root; here the read itself fails."""
    shipped = tmp_path / "weights"
    shipped.mkdir()
    name = weights.weights_filename(3, "s5dscr_s")
    weights.save_weights(
        S5DSCR(4, layers=1, kernel_size=3, multiplier=1),
        shipped / name,
        band=3,
        model_name="s5dscr_s",
    )
    weights.update_registry(shipped, tmp_path / "registry.txt")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(shipped / name, cache / name)
    monkeypatch.setattr(weights, "REGISTRY_FILE", tmp_path / "registry.txt")
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", None)
    monkeypatch.setenv("XR_S5SR_DATA_DIR", str(cache))

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file).parent == cache:
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(weights, "open", guarded_open, raising=False)
    with pytest.raises(
        WeightsError,
        match=r"Cannot read the weights cache .*Permission denied.*set XR_S5SR_DATA_DIR",
    ):
        weights.resolve_weights(3, "s5dscr_s")
