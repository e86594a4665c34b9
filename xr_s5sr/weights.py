"""Weights delivery: the sha256 registry, pooch download and the resolution of a request to a file.

Boundary: files and modules only. This module turns a (band, model) request or a path into a
verified weights file (:func:`resolve_weights`) and a file into an eval-mode
:class:`~xr_s5sr.models.S5DSCR` (:func:`load_model`, :func:`cached_model`). It never sees
radiance arrays; the inference engine does. torch is imported only by the functions that build
modules, so resolving, fetching and hashing files work without it. The file format and model
cards are :mod:`xr_s5sr.weightsfile` (its functions are importable from here too, as documented);
the per-process model cache is :mod:`xr_s5sr.cache`.

Resolution order (:func:`resolve_weights`)
-------------------------------------------
1. ``weights=`` path given: used as is; its sha256 is computed but not compared with the
   registry (a file the user names is trusted by path).
2. Source checkout: ``<repo>/weights/<file>``, verified against ``registry.txt``.
3. pooch cache (``XR_S5SR_DATA_DIR`` or the OS cache dir), verified against ``registry.txt``.
4. Download from ``XR_S5SR_WEIGHTS_URL`` (default :data:`DEFAULT_BASE_URL`), verified by pooch.
   Skipped in offline mode (``XR_S5SR_OFFLINE=1`` or ``offline=True``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pooch

from xr_s5sr._version import __version__
from xr_s5sr.bands import get_band
from xr_s5sr.cache import cached_model_object
from xr_s5sr.cache import clear_model_cache as clear_model_cache
from xr_s5sr.errors import WeightsError

# The file format's public functions, documented as xr_s5sr.weights.* (docs/weights.md), and
# the umask its files are written with (read by the tests as weights._UMASK).
from xr_s5sr.weightsfile import _UMASK as _UMASK
from xr_s5sr.weightsfile import RESTORE_HINT, atomic_write, check_metadata, stream_sha256
from xr_s5sr.weightsfile import WEIGHTS_FORMAT as WEIGHTS_FORMAT
from xr_s5sr.weightsfile import card_filename as card_filename
from xr_s5sr.weightsfile import file_sha256 as file_sha256
from xr_s5sr.weightsfile import load_weights_file as load_weights_file
from xr_s5sr.weightsfile import read_metadata as read_metadata
from xr_s5sr.weightsfile import save_weights as save_weights
from xr_s5sr.weightsfile import weights_filename as weights_filename

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from xr_s5sr.models import S5DSCR

#: Download location of the published weights; ``{version}`` is the package version. This is a
#: placeholder until the files are published there: set ``XR_S5SR_WEIGHTS_URL`` to a mirror.
DEFAULT_BASE_URL = "https://github.com/xr-s5sr/xr_s5sr/raw/v{version}/weights/"
#: Whether the weights are published at :data:`DEFAULT_BASE_URL`. While False, a download from
#: the default location is refused at once with a message saying what to do (instead of three
#: attempts at a URL that cannot work); set it True in the release that publishes them.
DEFAULT_BASE_URL_PUBLISHED = False

#: Environment variables read at call time (not at import).
ENV_BASE_URL = "XR_S5SR_WEIGHTS_URL"
ENV_DATA_DIR = "XR_S5SR_DATA_DIR"
ENV_OFFLINE = "XR_S5SR_OFFLINE"


def _checkout_weights_dir() -> Path | None:
    """``weights/`` of a source checkout, else the weights packaged in the wheel, else None."""
    # Only a source checkout has pyproject.toml beside the package; in an installed wheel the
    # parent is site-packages, whose "weights" folder (if any) belongs to someone else. A wheel
    # carries the files in xr_s5sr/_weights (pyproject's force-include).
    package = Path(__file__).resolve().parent
    root = package.parent
    if (root / "pyproject.toml").is_file() and (root / "weights").is_dir():
        return root / "weights"
    if (package / "_weights").is_dir():
        return package / "_weights"
    return None


#: The pooch registry (``<file name> sha256:<hex>`` per line). Module attribute so that tests and
#: forks can point it elsewhere.
REGISTRY_FILE: Traversable | Path = resources.files("xr_s5sr") / "registry.txt"

#: ``weights/`` of a source checkout, or ``xr_s5sr/_weights`` of an installed wheel, or None
#: (then the pooch cache and download are used). Files there are checked against the registry.
CHECKOUT_WEIGHTS_DIR: Path | None = _checkout_weights_dir()

#: Extra download attempts after a failed one (pooch waits 1 s, 2 s, … between them).
DOWNLOAD_RETRIES = 2

_WEIGHTS_NAME = re.compile(r"^(?P<model>[a-z][a-z0-9_]*)_band(?P<band>\d+)\.safetensors$")
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class WeightsSpec:
    """A resolved, verified weights file: small and picklable, so dask tasks can carry it.

    Attributes
    ----------
    path : str
        Absolute path of the safetensors file (must be readable where the model is loaded).
    sha256 : str
        Hex sha256 of the file, checked again when the model is loaded.
    band : int
        S5P band the weights were trained for.
    model : str
        Model preset name stored in the file (e.g. ``"s5dscr"``).
    """

    path: str
    sha256: str
    band: int
    model: str


# --------------------------------------------------------------------------------------------
# registry


def update_registry(
    weights_dir: str | os.PathLike[str], registry_path: str | os.PathLike[str]
) -> None:
    """Rewrite a pooch registry from the ``*.safetensors`` and ``*.json`` files of a directory.

    Each line is ``<file name> sha256:<hex>``, sorted by name; files that are no longer in
    ``weights_dir`` drop out. Run it after exporting weights, e.g.
    ``update_registry("weights", "xr_s5sr/registry.txt")``.

    Raises
    ------
    WeightsError
        If ``weights_dir`` is not a directory or a file name contains whitespace.
    OutputPathError
        If the registry cannot be written.
    """
    directory = Path(weights_dir)
    if not directory.is_dir():
        raise WeightsError(
            f"Weights directory {directory} does not exist or is not a directory: expected the "
            "folder holding the *.safetensors files and their *.json model cards."
        )
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix in (".safetensors", ".json")
    )
    spaced = [p.name for p in files if re.search(r"\s", p.name)]
    if spaced:
        raise WeightsError(
            f"Registry file names cannot contain whitespace, found {spaced}: rename the files."
        )
    lines = [
        "# pooch registry of the xr_s5sr weights files and model cards: <file name> sha256:<hex>",
        "# Generated by xr_s5sr.weights.update_registry; do not edit by hand.",
        *(f"{p.name} sha256:{file_sha256(p)}" for p in files),
    ]
    text = "\n".join(lines) + "\n"
    atomic_write(Path(registry_path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# registry, cache and download


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def _base_url() -> str:

    url = os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL.format(version=__version__)
    # pooch joins base_url and file name by plain concatenation.
    return url if url.endswith("/") else url + "/"


def _pooch() -> pooch.Pooch:
    """A fresh Pooch: the environment variables are read now, not at import."""
    pup = pooch.create(
        path=pooch.os_cache("xr_s5sr"),
        base_url=_base_url(),
        env=ENV_DATA_DIR,
        registry=None,
        retry_if_failed=DOWNLOAD_RETRIES,
    )
    try:
        with REGISTRY_FILE.open("r", encoding="utf-8") as handle:
            pup.load_registry(handle)
    except OSError as error:
        raise WeightsError(
            f"Cannot read the weights registry {REGISTRY_FILE}: {error}. Expected lines "
            "'<file name> sha256:<hex>'; regenerate it with xr_s5sr.weights.update_registry."
        ) from error
    return pup


def _pairs(registry: Iterable[str]) -> list[tuple[int, str]]:
    matches = (_WEIGHTS_NAME.match(name) for name in registry)
    return sorted((int(m["band"]), m["model"]) for m in matches if m)


def available_weights() -> list[tuple[int, str]]:
    """(band, model) pairs that have weights in the registry, sorted."""
    return _pairs(_pooch().registry)


def _registry_sha256(pup: pooch.Pooch, fname: str) -> str:
    algorithm, _, digest = pup.registry[fname].rpartition(":")
    if algorithm not in ("", "sha256"):
        raise WeightsError(
            f"Registry entry of {fname} uses {algorithm!r}: expected 'sha256:<hex>'. "
            "Regenerate the registry with xr_s5sr.weights.update_registry."
        )
    return digest


def _not_in_registry(pup: pooch.Pooch, what: str) -> WeightsError:
    pairs = _pairs(pup.registry)
    if pairs:
        listed = ", ".join(f"(band={b}, model={m!r})" for b, m in pairs)
        available = f"lists weights for {listed}. Pick one of those, or pass"
    else:
        available = "lists no weights files (none shipped with this version): pass"
    return WeightsError(
        f"No shipped weights for {what}: the registry {REGISTRY_FILE} {available} "
        "weights=<path to a .safetensors file>."
    )


def _spec(path: Path, band: int, sha256: str | None = None) -> WeightsSpec:
    """Spec of a file after checking its header (format, band); hashes it unless given."""
    metadata = read_metadata(path)
    check_metadata(path, metadata, band)
    digest = sha256 if sha256 is not None else file_sha256(path)
    return WeightsSpec(str(path.resolve()), digest, band, metadata.get("model", ""))


def _download(pup: pooch.Pooch, fname: str, progress: bool) -> Path:
    """``pup.fetch`` with its errors translated into :class:`WeightsError`."""
    import requests

    url = pup.get_url(fname)
    if not DEFAULT_BASE_URL_PUBLISHED and not os.environ.get(ENV_BASE_URL):
        packaged = (
            f"; the shipped weights come with this installation in {CHECKOUT_WEIGHTS_DIR} and "
            "are used from there without a download"
            if CHECKOUT_WEIGHTS_DIR is not None
            else ""
        )
        raise WeightsError(
            f"Cannot download {fname}: no download server is configured (the default {url} "
            f"is a placeholder until the weights are published){packaged}. To fill the cache "
            f"from a mirror set {ENV_BASE_URL}=<url of a folder holding the files>, or pass "
            "weights=<path>."
        )
    try:
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=60)
        return Path(pup.fetch(fname, downloader=downloader))
    except requests.exceptions.RequestException as error:
        raise WeightsError(
            f"Could not download {fname} from {url}: {error}. Check the network, set "
            f"{ENV_BASE_URL} to a server holding the weights files, or pass weights=<path>."
        ) from error
    except ValueError as error:  # pooch's hash check of the downloaded file
        raise WeightsError(
            f"The download of {fname} from {url} does not have the sha256 of the registry, "
            f"{_registry_sha256(pup, fname)} (pooch: {str(error).rstrip('.')}). The server holds "
            f"a different file than this version expects: set {ENV_BASE_URL} to the matching "
            "release, or pass weights=<path>."
        ) from error
    except OSError as error:  # cache directory missing, read-only, or a file in the way
        raise WeightsError(
            f"Cannot write the weights cache {pup.abspath}: {error}. Set {ENV_DATA_DIR} to a "
            "writable directory."
        ) from error


def resolve_weights(
    band: int,
    model: str = "s5dscr",
    weights: str | os.PathLike[str] | None = None,
    *,
    offline: bool | None = None,
    progress: bool = False,
) -> WeightsSpec:
    """Find and verify the weights file for a band (see the module docstring for the order).

    Parameters
    ----------
    band : int
        S5P band 2–8.
    model : str, default "s5dscr"
        Shipped model preset; ignored when ``weights`` is given (the file's own ``model``
        metadata is reported instead).
    weights : path-like, optional
        A weights file, or a directory holding ``weights_filename(band, model)``. Trusted by
        path: its sha256 is computed, not compared with the registry.
    offline : bool, optional
        Never touch the network. Default: true when ``XR_S5SR_OFFLINE`` is 1/true/yes/on.
    progress : bool, default False
        Show a download progress bar.

    Returns
    -------
    WeightsSpec
        Absolute path, sha256, band and model name of a verified file of the right band.

    Raises
    ------
    BandError
        Unknown band, or band 1 (no models).
    WeightsError
        No weights for (band, model); sha256 mismatch in the checkout or (offline) cache;
        file of another band; unreadable/unwritable cache; offline with the file not cached;
        download failure.
    """
    number = get_band(band, require_super_resolution=True).number
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            path = path / weights_filename(number, model)
        return _spec(path, number)

    fname = weights_filename(number, model)
    pup = _pooch()
    if fname not in pup.registry:
        raise _not_in_registry(pup, f"band {number}, model {model!r}")
    expected = _registry_sha256(pup, fname)

    if CHECKOUT_WEIGHTS_DIR is not None and (CHECKOUT_WEIGHTS_DIR / fname).is_file():
        path = CHECKOUT_WEIGHTS_DIR / fname
        found = file_sha256(path)
        if found != expected:
            raise WeightsError(
                f"sha256 mismatch for {path}: expected {expected} (registry), found {found}. The "
                f"file is corrupt, truncated or not the shipped one: {RESTORE_HINT}."
            )
        return _spec(path, number, found)

    cached = pup.abspath / fname
    cached_sha = None
    try:
        if cached.is_file():
            # Opened here, not by file_sha256: an unreadable cache is this module's to explain.
            with open(cached, "rb") as handle:
                cached_sha = stream_sha256(handle)
    except OSError as error:
        raise WeightsError(
            f"Cannot read the weights cache {pup.abspath}: {error}. Fix its permissions or set "
            f"{ENV_DATA_DIR} to a readable and writable directory."
        ) from error
    if cached_sha == expected:
        return _spec(cached, number, cached_sha)
    if _offline(offline):
        if cached_sha is not None:
            raise WeightsError(
                f"sha256 mismatch for the cached {cached}: expected {expected} (registry), found "
                f"{cached_sha}. Offline mode cannot download it again: delete the file and run "
                f"`xr-s5sr fetch-weights --band {number}` with network access."
            )
        raise WeightsError(
            f"Weights file {fname} is not available offline: not in the source checkout nor in "
            f"the cache {pup.abspath}, and offline mode ({ENV_OFFLINE} or offline=True) forbids "
            f"downloading. Run `xr-s5sr fetch-weights --band {number}` with network access, set "
            f"{ENV_DATA_DIR} to a directory holding {fname}, or pass weights=<path>."
        )
    if cached_sha is not None:
        # A stale or damaged cache entry is replaced, never used: pooch re-downloads it.
        warnings.warn(
            f"sha256 mismatch for the cached {cached}: expected {expected}, found {cached_sha}; "
            "downloading it again.",
            UserWarning,
            stacklevel=2,
        )
    path = _download(pup, fname, progress)
    return _spec(path, number, expected)


def fetch_weights(
    bands: int | Iterable[int] | None = None,
    models: str | Iterable[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Download weights files and model cards into the pooch cache, e.g. before going offline.

    Files already cached with the right sha256 are not downloaded again; damaged ones are.

    Parameters
    ----------
    bands : int or iterable of int, optional
        Bands to fetch (default: all in the registry).
    models : str or iterable of str, optional
        Model presets to fetch (default: all in the registry).
    progress : bool, default True
        Show download progress bars.

    Returns
    -------
    list of pathlib.Path
        Cached files (weights and their cards), in registry order.

    Raises
    ------
    WeightsError
        Offline mode, nothing in the registry matches, or a download fails.
    """
    if _offline(None):
        raise WeightsError(
            f"fetch_weights downloads files, but offline mode is set ({ENV_OFFLINE}="
            f"{os.environ.get(ENV_OFFLINE)!r}). Unset {ENV_OFFLINE} to fetch."
        )
    band_set = None if bands is None else {bands} if isinstance(bands, int) else set(bands)
    model_set = None if models is None else {models} if isinstance(models, str) else set(models)
    pup = _pooch()
    selected = [
        (b, m)
        for b, m in _pairs(pup.registry)
        if (band_set is None or b in band_set) and (model_set is None or m in model_set)
    ]
    if not selected:
        raise _not_in_registry(pup, f"bands={bands!r}, models={models!r}")
    names = [name for b, m in selected for name in (weights_filename(b, m), card_filename(b, m))]
    return [_download(pup, name, progress) for name in names if name in pup.registry]


# --------------------------------------------------------------------------------------------
# models


def load_model(
    band: int,
    model: str = "s5dscr",
    weights: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> S5DSCR:
    """The eval-mode model of a band with its normalisation, as a fresh (uncached) module.

    Parameters
    ----------
    band : int
        S5P band 2–8.
    model : str, default "s5dscr"
        Shipped model preset.
    weights : path-like, optional
        Weights file instead of the shipped one (see :func:`resolve_weights`).
    device : str, optional
        torch device (default "cpu").

    Returns
    -------
    S5DSCR
        Unfolded module in eval mode (trainable again with ``.train()``).
    """
    spec = resolve_weights(band, model, weights)
    module = load_weights_file(spec.path, band=spec.band, expected_sha256=spec.sha256)
    return module.to(device or "cpu").eval()


def cached_model(spec: WeightsSpec, device: str = "cpu", fold_bn: bool = True) -> S5DSCR:
    """The model of ``spec``, loaded once per process and shared by all threads.

    Keyed by (sha256, device, fold_bn) in :func:`xr_s5sr.cache.cached_model_object`, so dask
    tasks carrying the same small spec reuse one module. The module is in eval mode with
    gradients off; treat it as read-only.

    Parameters
    ----------
    spec : WeightsSpec
        From :func:`resolve_weights`; the sha256 is verified when the file is first loaded.
    device : str, default "cpu"
        torch device.
    fold_bn : bool, default True
        Fold BatchNorm into the convolutions (:func:`~xr_s5sr.models.fold_batchnorm`).
    """
    from xr_s5sr.models import fold_batchnorm

    def load() -> S5DSCR:
        module = load_weights_file(spec.path, band=spec.band, expected_sha256=spec.sha256)
        if fold_bn:
            module = fold_batchnorm(module)
        return module.to(device).eval().requires_grad_(False)

    return cast("S5DSCR", cached_model_object(("weights", spec.sha256, str(device), fold_bn), load))


__all__ = [
    "CHECKOUT_WEIGHTS_DIR",
    "DEFAULT_BASE_URL",
    "DOWNLOAD_RETRIES",
    "REGISTRY_FILE",
    "WeightsSpec",
    "available_weights",
    "cached_model",
    "fetch_weights",
    "load_model",
    "resolve_weights",
    "update_registry",
]
