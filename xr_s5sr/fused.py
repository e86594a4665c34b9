"""Fast CPU form of a trained S5-DSCR network (inference only).

Boundary: torch tensors of one LR tile in, HR tensors out; no tiling, no xarray. The tiling
engine (:mod:`xr_s5sr.engine`) runs :class:`FusedS5DSCR` on CPU instead of the module's own
``forward``: the same function (BatchNorm folded, equal to ``S5DSCR.forward`` to float32
rounding) computed in channels-last layout, bicubic ×4 as small matrix products, each depthwise
convolution split into its ``m`` channel groups whose pointwise products are accumulated in place
(the ``m·C`` channels are never stored), and every layer run over strips of a few thousand HR
pixels that write into preallocated buffers, only over the HR rows the tile's core still depends
on. See ``docs/performance.md`` for the measured effect of each step. ``dtype="bfloat16"`` runs
the convolutions and products in bfloat16 (float32 accumulation inside each product), the
bicubic, normalisation and final sum in float32. For ``scaling="local"`` networks it returns the
scaled residual only (the engine adds the physics inverse).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.errors import WeightsError
from xr_s5sr.operators import bicubic_operator

if TYPE_CHECKING:
    import torch

    from xr_s5sr.models import S5DSCR

#: HR pixels per strip of the fused CPU path: a strip's temporaries stay a few MB, so they are
#: recycled by the allocator instead of being fresh memory (a page fault every 4 KiB) and stay
#: close to the cores' caches.
STRIP_PIXELS = 4096
#: LR pixels per matrix product of the bicubic along (rows, columns): small windows waste few
#: multiplications on the band's zeros, large ones make fewer, bigger products.
_BICUBIC_SEGMENTS = (4, 8)


@dataclass(frozen=True)
class _FusedLayer:
    """Weights of one depth-separable block, rearranged for :class:`FusedS5DSCR`."""

    depthwise: tuple[torch.Tensor, ...]  # m tensors (C, 1, k, k): channel group j of the conv
    pointwise: torch.Tensor  # (m·C, C): rows j·C … (j+1)·C act on group j
    bias: torch.Tensor  # (C,)
    relu: bool


class FusedS5DSCR:
    """Inference-only CPU form of an eval-mode, BatchNorm-folded S5-DSCR.

    Computes :meth:`xr_s5sr.models.S5DSCR.forward` (to float32 rounding) on ``(h, w, C)`` LR
    tiles, in a form that runs close to the machine's matrix-product rate:

    - channels-last throughout: a tile is used as it lies in memory, a 1×1 convolution is one
      matrix product over pixels;
    - bicubic ×4 as two small banded matrix products
      (:func:`xr_s5sr.operators.bicubic_operator`);
    - the depthwise convolution (C → m·C) split into its m channel groups, each a plain
      depthwise convolution whose pointwise product is accumulated in place, so the m·C
      channels are never stored;
    - every layer run over strips of about ``STRIP_PIXELS`` HR pixels whose results are written
      into two preallocated residual buffers; layer ``l`` of ``L`` is only computed on the HR rows
      within ``(L − l)·(k//2)`` of the requested core rows;
    - the output scale ``std`` folded into the last layer (it commutes with ReLU since
      ``std > 0``): output = ``std·U + mean + std·R``; for ``scaling="local"`` networks the
      input is the tile already divided by its local scale and the output is
      ``output_std·R`` alone (:meth:`xr_s5sr.models.S5DSCR.detail` before the local scale).

    With ``dtype="bfloat16"`` the convolutions and matrix products run in bfloat16 (float32
    accumulation inside each product); normalisation, bicubic and the final sum stay float32.

    Parameters
    ----------
    folded : xr_s5sr.models.S5DSCR
        Eval-mode network with its BatchNorms folded (:func:`xr_s5sr.models.fold_batchnorm`).
    dtype : {"float32", "bfloat16"}, default "float32"
        Compute precision of the convolutions and products.

    Examples
    --------
    >>> import torch
    >>> from xr_s5sr.models import S5DSCR, fold_batchnorm
    >>> net = fold_batchnorm(S5DSCR(channels=4, layers=1, kernel_size=3, multiplier=1))
    >>> tile = np.random.default_rng(0).random((6, 5, 4), dtype=np.float32)
    >>> fast = FusedS5DSCR(net).upscale(tile, (0, 6))
    >>> with torch.inference_mode():
    ...     reference = net(torch.from_numpy(tile).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    >>> bool(torch.allclose(fast, reference, rtol=1e-5, atol=1e-6))
    True
    """

    def __init__(self, folded: S5DSCR, dtype: str = "float32") -> None:
        import torch
        from torch import nn

        from xr_s5sr.models import DepthSeparableBlock

        config = folded.config
        self.channels = folded.channels
        self.multiplier = config.multiplier
        self.padding = config.kernel_size // 2
        self.dtype = getattr(torch, dtype)
        buffers = dict(folded.named_buffers())
        self.input_mean = buffers["input_mean"].detach().float().cpu().clone()
        self.input_std = buffers["input_std"].detach().float().cpu().clone()
        # scaling="local": the output is the residual alone, scaled by output_std (the engine
        # multiplies by the local scale and adds the physics inverse).
        self.residual_only = config.scaling == "local"
        output_scale = buffers["output_std"] if self.residual_only else buffers["input_std"]
        output_scale = output_scale.detach().float().cpu().clone()
        m = self.multiplier
        layers = []
        for index, block in enumerate(folded.blocks):
            if not isinstance(block, DepthSeparableBlock):
                raise WeightsError(
                    f"FusedS5DSCR expects S5-DSCR blocks, got {type(block).__name__}."
                )
            if isinstance(block.norm, nn.BatchNorm2d):
                raise WeightsError(
                    "FusedS5DSCR needs a BatchNorm-folded network; pass "
                    "xr_s5sr.models.fold_batchnorm(model) instead of the model itself."
                )
            depthwise = block.depthwise.weight.detach().float().cpu()
            pointwise = block.pointwise.weight.detach().float().cpu()[:, :, 0, 0]
            bias = block.pointwise.bias
            bias = torch.zeros(self.channels) if bias is None else bias.detach().float().cpu()
            last = index == len(folded.blocks) - 1
            if last:
                pointwise = pointwise * output_scale[:, None]
                bias = bias * output_scale
            # Output channel c·m + j of the grouped conv reads input channel c: the channels
            # j, m + j, 2m + j, … form one plain depthwise conv over all C input channels.
            layers.append(
                _FusedLayer(
                    depthwise=tuple(depthwise[j::m].contiguous().to(self.dtype) for j in range(m)),
                    pointwise=torch.cat([pointwise[:, j::m].t() for j in range(m)])
                    .contiguous()
                    .to(self.dtype),
                    # The last layer's bias is added in float32 with the output.
                    bias=bias if last else bias.to(self.dtype),
                    relu=isinstance(block.activation, nn.ReLU),
                )
            )
        self.layers = tuple(layers)

    def upscale(
        self,
        tile: np.ndarray,
        core: tuple[int, int],
        out: torch.Tensor | None = None,
        workers: int = 1,
    ) -> torch.Tensor:
        """HR radiance of the LR rows ``core[0]:core[1]`` of a tile, over the tile's full width.

        Parameters
        ----------
        tile : numpy.ndarray
            LR radiance (scanline, ground_pixel, spectral_channel), float32, finite. Rows
            outside ``core`` are context (zero padding applies at the tile's edges).
        core : tuple of int
            First and end LR row of the tile whose HR rows are returned.
        out : torch.Tensor, optional
            Contiguous float32 ``(4·(core[1] − core[0]), 4·w, C)`` tensor to write into.
        workers : int, default 1
            Threads running the strips of each layer, one torch thread each (1: the calling
            thread, with its own torch threads).

        Returns
        -------
        torch.Tensor
            float32 ``(4·(core[1] − core[0]), 4·w, C)``, radiance units (``out`` if given).
        """
        import torch

        p = self.padding
        n_rows, n_cols, n_chan = tile.shape
        height, width = SCALE * n_rows, SCALE * n_cols
        first, stop = SCALE * core[0], SCALE * core[1]
        if out is None:
            out = torch.empty((stop - first, width, n_chan), dtype=torch.float32)
        lr = torch.from_numpy(np.ascontiguousarray(tile))
        # Rows of the buffers are HR rows shifted by p: p zero rows above and below are the
        # zero padding of the depthwise convolutions along scanline.
        upsampled = _bicubic_x4((lr - self.input_mean) / self.input_std, pad=p)
        residual = [_padded_rows(height, width, n_chan, p, self.dtype) for _ in range(2)]
        last = len(self.layers) - 1

        def run_strip(index: int, s: int, e: int) -> None:
            """Layer ``index`` on HR rows s..e (inference mode is per thread: enter it here)."""
            with torch.inference_mode():
                source = upsampled if index == 0 else residual[(index - 1) % 2]
                rows = source[s : e + 2 * p].unsqueeze(0).permute(0, 3, 1, 2)
                if rows.dtype != self.dtype:
                    rows = rows.to(self.dtype)
                if index == last:
                    target = out[s - first : e - first].view(-1, n_chan)
                else:
                    target = residual[index % 2][s + p : e + p].view(-1, n_chan)
                self._layer_strip(self.layers[index], rows, target, index == last)
                if index == last and not self.residual_only:
                    # out = std·U + mean + (std-scaled residual, already in target).
                    target.addcmul_(upsampled[s + p : e + p].view(-1, n_chan), self.input_std)
                    target.add_(self.input_mean)

        strip = max(1, STRIP_PIXELS // width)
        # Strips of a layer are independent: `workers` threads of one torch thread each take
        # them from a queue, so a core slowed down by other processes just takes fewer strips
        # (an OpenMP team waits for its slowest thread at every operation instead).
        pool = (
            ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
            if workers > 1
            else None
        )
        try:
            for index in range(len(self.layers)):
                reach = (last - index) * p
                low, high = max(0, first - reach), min(height, stop + reach)
                bounds = [(s, min(s + strip, high)) for s in range(low, high, strip)]
                if pool is None:
                    for s, e in bounds:
                        run_strip(index, s, e)
                else:
                    # A layer needs every strip of the previous one: wait for all of them.
                    for done in [pool.submit(run_strip, index, s, e) for s, e in bounds]:
                        done.result()
        finally:
            if pool is not None:
                pool.shutdown()
        return out

    def _layer_strip(
        self, layer: _FusedLayer, rows: torch.Tensor, target: torch.Tensor, last: bool
    ) -> None:
        """One block on a strip: depthwise groups, accumulated pointwise products, ReLU."""
        import torch
        import torch.nn.functional as F

        n_chan = self.channels
        p = self.padding
        groups = (
            F.conv2d(rows, weight, padding=(0, p), groups=n_chan)
            .permute(0, 2, 3, 1)
            .reshape(-1, n_chan)
            for weight in layer.depthwise
        )
        if self.dtype == torch.float32:
            for j, group in enumerate(groups):
                weight = layer.pointwise[j * n_chan : (j + 1) * n_chan]
                if j == 0:
                    torch.addmm(layer.bias, group, weight, out=target)
                else:
                    target.addmm_(group, weight)
        else:
            # One product over all m groups: a single rounding to bfloat16.
            stacked = torch.cat(tuple(groups), dim=1) if self.multiplier > 1 else next(groups)
            if last:
                target.copy_(torch.mm(stacked, layer.pointwise)).add_(layer.bias)
            else:
                torch.addmm(layer.bias, stacked, layer.pointwise, out=target)
        if layer.relu:
            target.relu_()


def _padded_rows(height: int, width: int, n_chan: int, pad: int, dtype: Any) -> torch.Tensor:
    """Uninitialised ``(height + 2·pad, width, n_chan)`` buffer, its first and last pad rows 0."""
    import torch

    buffer = torch.empty((height + 2 * pad, width, n_chan), dtype=dtype)
    buffer[:pad].zero_()
    buffer[height + pad :].zero_()
    return buffer


def _bicubic_x4(z: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """PyTorch bicubic ×4 of a ``(h, w, C)`` tensor as ``(pad + 4h + pad, 4w, C)``.

    Same values as :func:`xr_s5sr.operators.bicubic_x4` to float32 rounding, as two banded
    matrix products (:func:`xr_s5sr.operators.bicubic_operator`); rows ``pad`` … ``pad + 4h``
    hold the image, the ``pad`` rows around it are zero.
    """
    segment_rows, segment_cols = _BICUBIC_SEGMENTS
    rows, cols, n_chan = z.shape
    wide = bicubic_operator(segment_cols).apply(z, 1, SCALE * cols)
    out = _padded_rows(SCALE * rows, SCALE * cols, n_chan, pad, z.dtype)
    bicubic_operator(segment_rows).apply(wide, 0, SCALE * rows, out=out[pad : pad + SCALE * rows])
    return out


__all__ = ["STRIP_PIXELS", "FusedS5DSCR"]
