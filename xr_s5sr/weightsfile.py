"""The xr_s5sr weights file format and its model cards: write, read and check one file.

Boundary: one file at a time, no registry, no download, no cache (those are in
:mod:`xr_s5sr.weights` and :mod:`xr_s5sr.cache`). torch is imported only by the functions that
build or save modules, so names, hashes and headers work without it.

File format
-----------
A weights file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file (never pickle)
holding the module's ``state_dict()`` (convolutions, BatchNorm running statistics and the
``input_mean``/``input_std`` normalisation buffers). Its string metadata holds ``format``
(:data:`WEIGHTS_FORMAT`), ``band``, ``model`` (preset name), ``config`` (JSON of
:class:`~xr_s5sr.models.ModelConfig`), ``package_version`` and any caller metadata. The file is
named :func:`weights_filename`; a JSON model card with the same stem (:func:`card_filename`,
written by :func:`write_model_card`) sits beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from safetensors import SafetensorError, safe_open

from xr_s5sr._version import __version__
from xr_s5sr.atomic import UMASK, atomic_output
from xr_s5sr.bands import get_band
from xr_s5sr.errors import (
    ChannelMismatchError,
    OutputExistsError,
    OutputPathError,
    WeightsError,
)

if TYPE_CHECKING:
    from xr_s5sr.models import S5DSCR

#: Value of the ``format`` metadata key of every xr_s5sr weights file.
WEIGHTS_FORMAT = "xr_s5sr-weights-1"

#: How to replace a damaged weights file of the source checkout (part of error messages).
RESTORE_HINT = "restore it with `git checkout weights/` or fetch it with `xr-s5sr fetch-weights`"

_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_METADATA = frozenset({"format", "band", "model", "config", "package_version"})


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
    return card_path(weights_filename(band, model)).name


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Raises
    ------
    WeightsError
        If the file cannot be read.
    """
    try:
        with open(path, "rb") as handle:
            return stream_sha256(handle)
    except OSError as error:
        raise WeightsError(
            f"Cannot read {os.fspath(path)!r} to compute its sha256: {error}. "
            "Check that the path exists and is readable."
        ) from error


def stream_sha256(handle: BinaryIO) -> str:
    """Hex sha256 of what is left to read in a binary file object, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# writing


#: Process umask (files are written with mode ``0o666 & ~_UMASK``, see :mod:`xr_s5sr.store`).
_UMASK = UMASK


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``target``, then rename it onto ``target``.

    Uses the package's one atomic-file helper, :func:`xr_s5sr.atomic.atomic_output`: readers
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
    atomic_write(target, lambda tmp: save_file(state, str(tmp), metadata=header))
    return file_sha256(target)


def card_path(weights_path: str | os.PathLike[str]) -> Path:
    """The model card of a weights file: the same path with ``.json`` for ``.safetensors``.

    Examples
    --------
    >>> card_path("weights/s5dscr_band7.safetensors").name
    's5dscr_band7.json'
    """
    return Path(weights_path).with_suffix(".json")


def write_model_card(weights_path: str | os.PathLike[str], card: dict[str, Any]) -> Path:
    """Write the JSON model card of a weights file beside it (:func:`card_path`), atomically.

    Parameters
    ----------
    weights_path : path-like
        The weights file the card describes.
    card : dict
        JSON-serialisable card (training data, settings, scores); written indented, in order.

    Returns
    -------
    pathlib.Path
        Path of the card.

    Raises
    ------
    OutputPathError
        If the directory is missing or not writable.
    """
    target = card_path(weights_path)
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return target


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


def check_metadata(path: Path, metadata: dict[str, str], band: int | None) -> None:
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
                f"{RESTORE_HINT}."
            )
    metadata = read_metadata(file)
    check_metadata(file, metadata, band)
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


__all__ = [
    "RESTORE_HINT",
    "WEIGHTS_FORMAT",
    "atomic_write",
    "card_filename",
    "card_path",
    "check_metadata",
    "file_sha256",
    "load_weights_file",
    "read_metadata",
    "save_weights",
    "stream_sha256",
    "weights_filename",
    "write_model_card",
]
