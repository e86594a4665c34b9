"""Command-line arguments of ``xr-s5sr train`` and ``xr-s5sr finetune``, the one loop
between a settings dataclass and its flags, and ``--device``, which they share with the
other torch commands of :mod:`xr_s5sr.cli`.

Boundary: :mod:`argparse` parsers and namespaces in and out, settings dataclasses
(:class:`~xr_s5sr.train.TrainConfig`, :class:`~xr_s5sr.objective.FinetuneConfig`) built from a
namespace. No torch, no I/O: :mod:`xr_s5sr.train` and :mod:`xr_s5sr.selfsup` tie their settings
class to these builders (``add_arguments``), and :mod:`xr_s5sr.cli` imports those modules only
when their command runs, so other commands start without torch.

Each dataclass field ``some_name`` is the flag ``--some-name``: a boolean field a
``--x/--no-x`` pair, any other field a typed option whose default is the field's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields
from typing import Any, TypeVar

Config = TypeVar("Config")

#: Help of the :class:`~xr_s5sr.objective.FinetuneConfig` flags.
FINETUNE_HELP = {
    "model": "preset of the start and exported weights",
    "steps": "optimiser steps",
    "batch_size": "LR windows per step",
    "lr_patch": "central LR pixels per side where the losses are taken",
    "context": "LR pixels of context around the central patch (and kept from missing values)",
    "learning_rate": "Adam learning rate (cosine decay to 0)",
    "consistency_weight": "weight of the measurement-consistency loss",
    "sure_weight": "weight of the SURE loss",
    "equivariance_weight": "weight of the shift/flip equivariance loss",
    "noise_sigma": "LR noise sigma for SURE, mol m-2 nm-1 sr-1 s-1 (default: per-granule estimate)",
    "max_shift": "largest shift of the equivariance transforms, HR pixels",
    "flips": "flips in the equivariance transforms",
    "probe_tau": "SURE finite-difference step relative to the RMS radiance",
    "seed": "seed of windows, transforms and probes",
    "checkpoint_every": "steps between checkpoints (and validation scores)",
    "select_best": (
        "return the checkpoint with the best reduced-resolution gain over the start, or the "
        "start weights when none is better beyond the criterion's noise"
    ),
    "spectral_prior": (
        "train for super-resolve's spectral prior (its default; use --no-spectral-prior here "
        "only for weights run with --no-spectral-prior)"
    ),
}


# ------------------------------------------------------------------------- config <-> flags
def flag(name: str) -> str:
    """``--some-name`` of the field ``some_name``."""
    return f"--{name.replace('_', '-')}"


def add_config_arguments(
    parser: argparse.ArgumentParser,
    defaults: Any,
    *,
    skip: Collection[str] = ("band",),
    helps: Mapping[str, str] | None = None,
    types: Mapping[str, Callable[[str], Any]] | None = None,
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """One flag per field of the dataclass instance ``defaults`` (its values are the defaults).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Gets the flags.
    defaults : dataclass instance
        Field names, types and default values.
    skip : collection of str
        Fields without a flag (given by other arguments).
    helps : mapping, optional
        Help text by field (default: ``"(default: <value>)"``).
    types : mapping, optional
        Parser of the value by field, for fields whose default is None (their type cannot be
        read from the default; ``str`` otherwise).
    choices : mapping, optional
        Allowed values by field.
    """
    helps, types, choices = helps or {}, types or {}, choices or {}
    for field in fields(defaults):
        if field.name in skip:
            continue
        default = getattr(defaults, field.name)
        text = (
            helps[field.name] + ("" if default is None else " (default: %(default)s)")
            if field.name in helps
            else f"(default: {default})"
        )
        if isinstance(default, bool):
            parser.add_argument(
                flag(field.name), action=argparse.BooleanOptionalAction, default=default, help=text
            )
            continue
        kind = type(default) if default is not None else types.get(field.name, str)
        extra: dict[str, Any] = {"choices": choices[field.name]} if field.name in choices else {}
        parser.add_argument(flag(field.name), type=kind, default=default, help=text, **extra)


def config_from_args(cls: Callable[..., Config], args: argparse.Namespace, **given: Any) -> Config:
    """The settings dataclass ``cls`` from a namespace: each field from its flag's value, except
    the fields in ``given`` (set from other arguments)."""
    names = [f.name for f in fields(cls) if f.name not in given]  # type: ignore[arg-type]
    return cls(**{name: getattr(args, name) for name in names}, **given)


def config_to_args(config: Any, *, skip: Collection[str] = ()) -> list[str]:
    """Command-line words that :func:`config_from_args` reads back as ``config`` (fields in
    ``skip`` and fields that are None are left out: they keep their default)."""
    words: list[str] = []
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name in skip or value is None:
            continue
        if isinstance(value, bool):
            words.append(flag(field.name) if value else "--no-" + flag(field.name)[2:])
        else:
            words.extend([flag(field.name), str(value)])
    return words


# ------------------------------------------------------------------------- the two commands
def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: the torch device of every command that runs a network (``super-resolve``,
    ``demo``, ``assess``, ``finetune``); None picks CUDA when available."""
    parser.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda, cuda:N (default: cuda when available, else cpu)",
    )


def add_common_arguments(parser: argparse.ArgumentParser, *, outputs: str) -> None:
    """``--band``, ``--out`` and ``--no-resume``: what every training command takes."""
    parser.add_argument("--band", type=int, required=True, help="S5P band 2-8")
    parser.add_argument("--out", required=True, help=f"run directory ({outputs})")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")


def add_train_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Data arguments of ``xr-s5sr train``: L1B files or synthetic scenes, tile, noise."""
    parser.add_argument(
        "--l1b",
        nargs="*",
        default=None,
        help="L1B files or glob patterns (default: synthetic scenes)",
    )
    parser.add_argument(
        "--synthetic-scenes", type=int, default=32, help="synthetic training scenes"
    )
    parser.add_argument(
        "--validation-scenes", type=int, default=4, help="synthetic validation scenes"
    )
    parser.add_argument(
        "--tile",
        type=int,
        nargs=2,
        default=(512, 256),
        metavar=("SCANLINES", "PIXELS"),
        help="HR tile size (default 512 256, paper)",
    )
    parser.add_argument("--n-channel", type=int, default=None, help="synthetic channels (tests)")
    parser.add_argument(
        "--noise-fraction",
        type=float,
        default=0.0,
        help="fraction of synthetic scenes with instrument noise",
    )


def add_finetune_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Data and run arguments of ``xr-s5sr finetune``: L1B files, start weights, device, checks."""
    parser.add_argument(
        "--l1b", nargs="+", required=True, help="L1B files or glob patterns (LR data)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="start weights file (default: the shipped weights of --band/--model)",
    )
    parser.add_argument(
        "--tile-scanlines",
        type=int,
        default=None,
        help="cut granules into tiles of this many scanlines (default: whole granules)",
    )
    add_device_option(parser)
    parser.add_argument(
        "--check",
        nargs="+",
        default=None,
        help=(
            "other L1B files or globs to score the result on (not trained on): "
            "reduced-resolution gain with a 95 %% interval, and SURE"
        ),
    )


def module_main(
    prog: str,
    description: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run_from_args: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """``python -m <module>``: the same as the ``xr-s5sr`` subcommand (plus ``--quiet``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


__all__ = [
    "FINETUNE_HELP",
    "add_common_arguments",
    "add_config_arguments",
    "add_device_option",
    "add_finetune_data_arguments",
    "add_train_data_arguments",
    "config_from_args",
    "config_to_args",
    "flag",
    "module_main",
]
