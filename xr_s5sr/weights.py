"""Weights files: safetensors format, sha256 registry, pooch delivery and a per-process model cache.

Boundary: files and modules only. This module turns a (band, model) request or a path into a
verified weights file (:func:`resolve_weights`) and a file into an eval-mode
:class:`~xr_s5sr.models.S5DSCR` (:func:`load_weights_file`, :func:`cached_model`). It never sees
radiance arrays; the inference engine does. torch is imported only by the functions that build
modules, so resolving, fetching and hashing files work without it.

File format
-----------
A weights file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file (never pickle)
holding the module's ``state_dict()`` (convolutions, BatchNorm running statistics and the
``input_mean``/``input_std`` normalisation buffers). Its string metadata holds ``format``
(:data:`WEIGHTS_FORMAT`), ``band``, ``model`` (preset name), ``config`` (JSON of
:class:`~xr_s5sr.models.ModelConfig`), ``package_version`` and any caller metadata. A JSON model
card with the same stem (:func:`card_filename`) sits beside each shipped file.

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

import hashlib
import json
import os
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pooch
from safetensors import SafetensorError, safe_open

from xr_s5sr.bands import get_band
from xr_s5sr.errors import (
    ChannelMismatchError,
    OutputExistsError,
    OutputPathError,
    WeightsError,
)
from xr_s5sr.store import UMASK, atomic_output

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from xr_s5sr.models import S5DSCR

#: Value of the ``format`` metadata key of every xr_s5sr weights file.
WEIGHTS_FORMAT = "xr_s5sr-weights-1"

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

_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WEIGHTS_NAME = re.compile(r"^(?P<model>[a-z][a-z0-9_]*)_band(?P<band>\d+)\.safetensors$")
_RESERVED_METADATA = frozenset({"format", "band", "model", "config", "package_version"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FIX_CHECKOUT = "restore it with `git checkout weights/` or fetch it with `xr-s5sr fetch-weights`"


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
# names and hashes


def _check_model_name(model: str) -> str:
    if not isinstance(model, str) or not _MODEL_NAME.match(model):
        raise WeightsError(
            f"Invalid model name {model!r}: expected lower-case letters, digits and underscores "
            f"starting with a letter (e.g. 's5dscr' or 's5dscr_s'). Pass one of the names listed "
            f"by xr_s5sr.weights.available_weights()."
        )
    return model


def weights_filename(band: int, model: str = "s5dscr") -> str:
    """File name of the weights of a band and model preset.

    Parameters
    ----------
    band : int
        S5P band 2–8.
    model : str, default "s5dscr"
        Model preset name.

    Examples
    --------
    >>> weights_filename(7)
    's5dscr_band7.safetensors'
    >>> weights_filename(3, "s5dscr_s")
    's5dscr_s_band3.safetensors'
    """
    number = get_band(band, require_super_resolution=True).number
    return f"{_check_model_name(model)}_band{number}.safetensors"


def card_filename(band: int, model: str = "s5dscr") -> str:
    """File name of the JSON model card that sits beside :func:`weights_filename`.

    Examples
    --------
    >>> card_filename(7)
    's5dscr_band7.json'
    """
    return weights_filename(band, model).removesuffix(".safetensors") + ".json"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Raises
    ------
    WeightsError
        If the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise WeightsError(
            f"Cannot read {os.fspath(path)!r} to compute its sha256: {error}. "
            "Check that the path exists and is readable."
        ) from error
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# writing


#: Process umask (files are written with mode ``0o666 & ~_UMASK``, see :mod:`xr_s5sr.store`).
_UMASK = UMASK


def _atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``target``, then rename it onto ``target``.

    Uses the package's one atomic-file helper, :func:`xr_s5sr.store.atomic_output`: readers
    (and a crash) see the old file or the complete new one, never a partial file, and the file
    gets the mode of a user-created file (safetensors would create it 0600). ``target`` is
    replaced; callers check ``overwrite`` first.

    Raises
    ------
    OutputPathError
        If the directory is missing or not writable, or ``write`` fails (disk full, ...).
    """
    try:
        with atomic_output(target, overwrite=True, wait_for_dask=False) as tmp:
            write(tmp)
    except OutputPathError:
        raise
    except (OSError, SafetensorError) as error:
        raise OutputPathError(
            f"Cannot write {target}: {error}. Check that {target.parent} is writable and has "
            "free space."
        ) from error


def save_weights(
    model: S5DSCR,
    path: str | os.PathLike[str],
    *,
    band: int,
    model_name: str,
    metadata: dict[str, str] | None = None,
    overwrite: bool = False,
) -> str:
    """Write a model to a safetensors weights file, atomically.

    Parameters
    ----------
    model : S5DSCR
        Trained module (unfolded: save before :func:`~xr_s5sr.models.fold_batchnorm`). Its
        ``state_dict()`` is stored, including BatchNorm statistics and normalisation buffers.
    path : path-like
        Target file, conventionally ``weights/<weights_filename(band, model_name)>``.
    band : int
        S5P band 2–8 the model was trained for.
    model_name : str
        Preset name (e.g. ``"s5dscr"``), stored as metadata ``model``.
    metadata : dict of str to str, optional
        Extra metadata (e.g. training description). Keys ``format``, ``band``, ``model``,
        ``config`` and ``package_version`` are reserved.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    str
        Hex sha256 of the written file (for ``registry.txt`` and model cards).

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputPathError
        If the directory is missing or not writable.
    WeightsError
        If ``metadata`` is invalid or the module does not match its config (e.g. folded).

    Examples
    --------
    >>> import tempfile
    >>> from xr_s5sr.models import S5DSCR
    >>> target = Path(tempfile.mkdtemp()) / "tiny_band3.safetensors"
    >>> digest = save_weights(S5DSCR(4, 1, 3, 1), target, band=3, model_name="tiny")
    >>> load_weights_file(target, band=3, expected_sha256=digest).channels
    4
    """
    from safetensors.torch import save_file

    from xr_s5sr._version import __version__
    from xr_s5sr.models import model_from_config

    number = get_band(band, require_super_resolution=True).number
    _check_model_name(model_name)
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"Weights file {target} already exists: expected a new path. Pass overwrite=True "
            "to replace it, or choose another path."
        )
    extra = dict(metadata or {})
    reserved = sorted(_RESERVED_METADATA.intersection(extra))
    if reserved:
        raise WeightsError(
            f"Metadata keys {reserved} are reserved (set by save_weights from its arguments): "
            "rename them, e.g. to 'training_' + key."
        )
    not_text = sorted(str(k) for k, v in extra.items() if not isinstance(v, str))
    if not_text or not all(isinstance(k, str) for k in extra):
        raise WeightsError(
            f"safetensors metadata must map str to str: found non-str keys or values for "
            f"{not_text or list(extra)}. Convert them, e.g. with json.dumps(value)."
        )
    state = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    expected = model_from_config(model.config).state_dict()
    if set(state) != set(expected):
        raise WeightsError(
            f"The module's tensors do not match its config {model.config}: unexpected "
            f"{sorted(set(state) - set(expected))}, missing {sorted(set(expected) - set(state))}. "
            "Save the unfolded model (before fold_batchnorm) so that it can be rebuilt."
        )
    header = {
        "format": WEIGHTS_FORMAT,
        "band": str(number),
        "model": model_name,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "package_version": __version__,
        **extra,
    }
    _atomic_write(target, lambda tmp: save_file(state, str(tmp), metadata=header))
    return file_sha256(target)


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
    _atomic_write(Path(registry_path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# reading


def _refuse_pickle(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
        size = path.stat().st_size
    except OSError as error:
        raise WeightsError(
            f"Cannot read weights file {path}: {error}. Check the path and its permissions."
        ) from error
    # A safetensors file starts with the little-endian u64 length of its JSON header, then
    # "{". Recognise it first: a header length such as 640 (0x280) starts with the bytes
    # 80 02, which would otherwise look like a pickle.
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return
    # torch.save writes a zip archive (PK\x03\x04) or, in its legacy format, a raw pickle
    # (protocol opcode 0x80 followed by the protocol number 2–5).
    is_zip = head[:4] == b"PK\x03\x04"
    is_pickle = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    if is_zip or is_pickle:
        kind = "a zip archive (torch.save format)" if is_zip else "a pickle"
        raise WeightsError(
            f"{path} is {kind}, not a safetensors file: pickled weights are refused for safety "
            "(unpickling can run arbitrary code). Convert it once in a session you trust: "
            "state = torch.load(path, weights_only=True); model = "
            "xr_s5sr.models.model_from_config(config); model.load_state_dict(state); "
            "xr_s5sr.weights.save_weights(model, 'new.safetensors', band=..., model_name=...)."
        )


def _open_error(path: Path, error: Exception) -> WeightsError:
    return WeightsError(
        f"Weights file {path} is corrupt or truncated (not a valid safetensors file: {error}). "
        "Replace it: re-export it with save_weights, or fetch the shipped file again with "
        "`xr-s5sr fetch-weights`."
    )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of a weights file, read from its header only (no tensors, no torch).

    Raises
    ------
    WeightsError
        If the file is missing, pickled, corrupt or truncated.

    Examples
    --------
    >>> import tempfile
    >>> from xr_s5sr.models import S5DSCR
    >>> target = Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> _ = save_weights(S5DSCR(4, 1, 3, 1), target, band=7, model_name="tiny")
    >>> read_metadata(target)["band"]
    '7'
    """
    file = Path(path)
    if not file.is_file():
        raise WeightsError(
            f"Weights file {file} not found: expected an existing *.safetensors file. Check "
            "the path, or pass weights=None to use the shipped weights."
        )
    _refuse_pickle(file)
    try:
        with safe_open(str(file), framework="numpy") as handle:
            return dict(handle.metadata() or {})
    except SafetensorError as error:
        raise _open_error(file, error) from error


def _check_metadata(path: Path, metadata: dict[str, str], band: int | None) -> None:
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(
            f"{path} is not an xr_s5sr weights file: expected metadata format="
            f"{WEIGHTS_FORMAT!r}, found {metadata.get('format')!r}. Load the tensors into an "
            "xr_s5sr.models.S5DSCR and write it with xr_s5sr.weights.save_weights."
        )
    if band is not None and metadata.get("band") != str(band):
        raise WeightsError(
            f"{path} holds weights for band {metadata.get('band')}, but band {band} was "
            f"requested. Use the weights file of band {band}, or pass band="
            f"{metadata.get('band')} if the data really is that band."
        )


def load_weights_file(
    path: str | os.PathLike[str],
    *,
    band: int | None = None,
    expected_sha256: str | None = None,
    channels: int | None = None,
) -> S5DSCR:
    """Build an eval-mode :class:`~xr_s5sr.models.S5DSCR` on CPU from a weights file.

    Parameters
    ----------
    path : path-like
        safetensors file written by :func:`save_weights`.
    band : int, optional
        Band the caller needs; a file of another band is refused.
    expected_sha256 : str, optional
        Hex sha256 the file must have (e.g. from the registry or a :class:`WeightsSpec`).
    channels : int, optional
        Spectral channels of the caller's data, checked before any tensor is read.

    Returns
    -------
    S5DSCR
        The module in eval mode, on CPU, with its normalisation buffers.

    Raises
    ------
    WeightsError
        Missing, pickled, corrupt or truncated file; sha256, band or tensor mismatch.
    ChannelMismatchError
        If ``channels`` differs from the model's channel count.
    """
    from xr_s5sr.models import model_from_config

    file = Path(path)
    if expected_sha256 is not None:
        found = file_sha256(file)
        if found != expected_sha256.lower():
            raise WeightsError(
                f"sha256 mismatch for {file}: expected {expected_sha256.lower()}, found {found} "
                f"(the file is corrupt, truncated or was replaced). Restore the original file: "
                f"{_FIX_CHECKOUT}."
            )
    metadata = read_metadata(file)
    _check_metadata(file, metadata, band)
    try:
        model = model_from_config(json.loads(metadata["config"]))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise WeightsError(
            f"{file} has an unusable model config ({error!r}): expected the JSON of "
            "xr_s5sr.models.ModelConfig in metadata 'config'. Re-export it with save_weights."
        ) from error
    if channels is not None and channels != model.channels:
        raise ChannelMismatchError(
            f"The weights {file} expect {model.channels} spectral channels, but the data has "
            f"{channels}. Use the weights of the data's band (band {metadata.get('band')} "
            "weights are for a different channel count) or select the full channel range."
        )
    try:
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            state = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except SafetensorError as error:
        raise _open_error(file, error) from error
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(
            f"The tensors of {file} do not match its model config {model.config}: {error}. "
            "Re-export the file with save_weights from the trained module."
        ) from error
    return model.eval()


# --------------------------------------------------------------------------------------------
# registry, cache and download


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def _base_url() -> str:
    from xr_s5sr._version import __version__

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
    _check_metadata(path, metadata, band)
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
                f"file is corrupt, truncated or not the shipped one: {_FIX_CHECKOUT}."
            )
        return _spec(path, number, found)

    cached = pup.abspath / fname
    try:
        cached_sha = file_sha256(cached) if cached.is_file() else None
    except (OSError, WeightsError) as error:
        reason = error.__cause__ or error  # the OSError, also when file_sha256 wrapped it
        raise WeightsError(
            f"Cannot read the weights cache {pup.abspath}: {reason}. Fix its permissions or set "
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


#: Models (and their fast CPU forms) kept per process by :func:`cached`.
MODEL_CACHE_SIZE = 8
_MODEL_CACHE: OrderedDict[tuple[object, ...], Any] = OrderedDict()
_MODEL_CACHE_LOCK = threading.Lock()


def cached(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
    """The process's one bounded model cache: ``make()`` once per ``key``, least recently used
    entries dropped beyond :data:`MODEL_CACHE_SIZE`.

    The lock is held while ``make()`` runs, so concurrent first calls (dask threads) load a
    model once. Used for weights files (:func:`cached_model`), in-memory modules moved to a
    device and the fused CPU runners of :mod:`xr_s5sr.engine`.
    """
    with _MODEL_CACHE_LOCK:
        value = _MODEL_CACHE.get(key)
        if value is None:
            value = make()
            _MODEL_CACHE[key] = value
            while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
        else:
            _MODEL_CACHE.move_to_end(key)
    return value


def cached_model(spec: WeightsSpec, device: str = "cpu", fold_bn: bool = True) -> S5DSCR:
    """The model of ``spec``, loaded once per process and shared by all threads.

    Keyed by (sha256, device, fold_bn) in :func:`cached`, so dask tasks carrying the same small
    spec reuse one module. The module is in eval mode with gradients off; treat it as read-only.

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

    return cast("S5DSCR", cached(("weights", spec.sha256, str(device), fold_bn), load))


def clear_model_cache() -> None:
    """Forget every model cached by this process (weights files, modules, fast CPU forms)."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()


__all__ = [
    "CHECKOUT_WEIGHTS_DIR",
    "DEFAULT_BASE_URL",
    "DOWNLOAD_RETRIES",
    "REGISTRY_FILE",
    "WEIGHTS_FORMAT",
    "WeightsSpec",
    "available_weights",
    "cached",
    "cached_model",
    "card_filename",
    "clear_model_cache",
    "fetch_weights",
    "file_sha256",
    "load_model",
    "load_weights_file",
    "read_metadata",
    "resolve_weights",
    "save_weights",
    "update_registry",
    "weights_filename",
]
