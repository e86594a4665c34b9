"""The training harness shared by supervised training and self-supervised fine-tuning.

Boundary: what :mod:`xr_s5sr.train` (:func:`~xr_s5sr.train.fit`) and :mod:`xr_s5sr.selfsup`
(:func:`~xr_s5sr.selfsup.finetune`) both need around their own loop: L1B file patterns
expanded to files, a checkpoint file written atomically and read back for a resume, the
progress bar and progress lines, and the export of a trained module as a weights file with its
JSON model card (through :func:`xr_s5sr.weightsfile.save_weights` and
:func:`~xr_s5sr.weightsfile.write_model_card`). What a checkpoint holds, when it matches the
current settings and what a card says beyond its common head stay with each loop. Their
command-line arguments are in :mod:`xr_s5sr.cli_training`. torch is imported lazily.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xr_s5sr._version import __version__
from xr_s5sr.atomic import atomic_output
from xr_s5sr.errors import MissingInputError
from xr_s5sr.weightsfile import save_weights, write_model_card


# ------------------------------------------------------------------------------------ data
def expand_paths(patterns: Sequence[str]) -> list[str]:
    """Files named or matched by ``patterns`` (globs), sorted, without duplicates.

    Raises
    ------
    MissingInputError
        If no file matches any pattern.
    """
    files = sorted({p for pattern in patterns for p in (glob.glob(pattern) or [])})
    if not files:
        raise MissingInputError(f"No L1B file matches {list(patterns)}: check the paths/globs.")
    return files


def prepare_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a path, created with its parents when missing."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ------------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically (temporary file, then rename), so an
    interrupted run keeps its previous checkpoint whole."""
    import torch

    with atomic_output(path, overwrite=True, wait_for_dask=False) as tmp:
        torch.save(state, tmp)


def load_checkpoint(
    path: Path,
    matches: Callable[[dict[str, Any]], bool],
    *,
    resume: bool = True,
    mismatch_warning: str | None = None,
) -> dict[str, Any] | None:
    """The checkpoint at ``path`` when a run can continue from it, else None.

    Parameters
    ----------
    path : pathlib.Path
        Checkpoint file (``torch.save`` of a dict of tensors and plain values).
    matches : callable
        True when the stored state was written with the current settings.
    resume : bool, default True
        False: never resume (the file is overwritten by the next save).
    mismatch_warning : str, optional
        Warned (``UserWarning``) when a checkpoint exists but does not match; None: silent.
    """
    import torch

    if not resume or not path.exists():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if matches(state):
        return state
    if mismatch_warning is not None:
        warnings.warn(mismatch_warning, UserWarning, stacklevel=3)
    return None


def read_history(path: Path) -> list[dict[str, float]]:
    """The ``"history"`` list stored in the checkpoint at ``path`` ([] without one)."""
    import torch

    if not path.exists():
        return []
    return list(torch.load(path, map_location="cpu", weights_only=True)["history"])


def state_copy(model: Any) -> dict[str, Any]:
    """Detached CPU copy of a module's weights (a candidate for the best model)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------ progress
def progress_bar(
    desc: str, *, enabled: bool, total: int | None = None, initial: int = 0, iterable: Any = None
) -> Any:
    """A tqdm bar over ``iterable`` (or counting to ``total``): when ``enabled``, shown on a
    terminal only (tqdm decides, so logs stay clean); otherwise never shown."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        initial=initial,
        desc=desc,
        disable=None if enabled else True,
        leave=False,
    )


def progress_line(enabled: bool, text: str) -> None:
    """Print one progress line (flushed, so logs of long runs stay current)."""
    if enabled:
        print(text, flush=True)


# ------------------------------------------------------------------------------------ export
def software() -> dict[str, str]:
    """Versions that made the weights (``torch``, ``xr_s5sr``), for the model card."""
    import torch

    return {"torch": torch.__version__, "xr_s5sr": __version__}


def export_model(
    model: Any,
    path: Path,
    *,
    band: int,
    model_name: str,
    card: dict[str, Any],
    metadata: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a trained module as a weights file and its JSON model card beside it.

    The card starts with what every card holds (band, model, architecture, parameter count,
    weights file and its sha256), then ``card``.

    Returns
    -------
    pathlib.Path
        Path of the model card (``<weights stem>.json``).
    """
    sha256 = save_weights(
        model, path, band=band, model_name=model_name, metadata=metadata, overwrite=overwrite
    )
    head = {
        "band": band,
        "model": model_name,
        "architecture": model.config.to_dict(),
        "parameters": model.parameter_count(),
        "weights_file": path.name,
        "sha256": sha256,
    }
    return write_model_card(path, {**head, **card})


__all__ = [
    "expand_paths",
    "export_model",
    "load_checkpoint",
    "prepare_out_dir",
    "progress_bar",
    "progress_line",
    "read_history",
    "save_checkpoint",
    "software",
    "state_copy",
]
