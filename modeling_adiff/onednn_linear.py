"""oneDNN products for the linear layers of an ADIFF model at inference on the CPU.

On x86 CPUs PyTorch runs an fp32 `nn.Linear` (and GPT-2's `Conv1D`, an `addmm`) through MKL's GEMM. oneDNN's
inner-product primitive, which PyTorch ships for its compiler (`torch.ops.mkldnn._linear_pointwise`), computes the same
products 2-3x faster on the small batches of decoding and about 2x faster on the large ones of HTSAT and the prefill,
straight from the layer's own weight: no copy, no repacking, nothing saved differently. It rounds differently from MKL
at the level of fp32 accumulation order (about 1e-6 relative), as MKL itself does between batch sizes.

`use_onednn_linear(model)` gives every exact `nn.Linear` and `Conv1D` under `model` a subclass whose forward takes that
route for large products (`MIN_WEIGHT_ENTRIES`, `MIN_MULTIPLY_ADDS`) when gradients are off, the tensors are fp32
on the CPU, oneDNN is available and nothing is tracing or compiling the model; otherwise (small products, training,
CUDA, bf16, TorchScript, torch.compile / torch.export / ONNX export, a torch without oneDNN) it runs the parent's
forward unchanged. `AdiffPreTrainedModel` applies it to every model it builds.
`onednn_linear_enabled(False)` switches the route off for a block of code (parity checks against code that uses plain
PyTorch layers, or a user who wants MKL's rounding back).
"""

import contextlib
import contextvars
import functools

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

_ENABLED = contextvars.ContextVar("adiff_onednn_linear_enabled", default=True)
# oneDNN pays about 12 us per call (MKL 2-5 us), so small products stay with MKL. Measured here (2 threads): oneDNN
# wins from about 4 M multiply-adds (768 x 768 at 8 rows, 256 x 256 at 100 rows), and for a weight of half a million
# entries or more at any row count, because then the weight no longer sits in cache and oneDNN streams it 1.3-1.6x
# faster (GPT-2's decoding at batch 1). Below both, e.g. the shipped 4.8 M-parameter model, MKL is faster.
MIN_WEIGHT_ENTRIES = 1 << 19
MIN_MULTIPLY_ADDS = 1 << 22


@functools.cache
def onednn_linear_available() -> bool:
    """Whether this torch build has oneDNN's fused linear op and it runs (checked once, on a 2x2 product)."""
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    try:
        product = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2), torch.ones(2, 2), None, "none", [], "")
    except (RuntimeError, NotImplementedError):
        return False
    return bool(torch.equal(product, torch.full((1, 2), 2.0)))


@contextlib.contextmanager
def onednn_linear_enabled(enabled: bool):
    """Within the block, linear layers use oneDNN at inference (`True`, the default) or PyTorch's own kernel."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def _takes_onednn(hidden: torch.Tensor, weight: torch.Tensor) -> bool:
    """Large products in eager fp32 CPU inference only (`weight` is `(out, in)`, possibly a view): traced,
    compiled and exported graphs (TorchScript, torch.compile, torch.export,
    ONNX) keep the standard op, which their backends know."""
    large = weight.numel() >= MIN_WEIGHT_ENTRIES or hidden.numel() * weight.shape[0] >= MIN_MULTIPLY_ADDS
    return (large and _ENABLED.get() and not torch.is_grad_enabled() and hidden.dtype == weight.dtype == torch.float32
            and hidden.device.type == weight.device.type == "cpu" and onednn_linear_available()
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling())


def _onednn_linear(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`F.linear(hidden, weight, bias)` by oneDNN: `(..., in) x (out, in) -> (..., out)`."""
    return torch.ops.mkldnn._linear_pointwise(hidden, weight, bias, "none", [], "")


class OneDnnLinear(nn.Linear):
    """`nn.Linear` that multiplies with oneDNN at fp32 CPU inference (see the module docstring)."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if _takes_onednn(hidden, self.weight):
            return _onednn_linear(hidden, self.weight, self.bias)
        return super().forward(hidden)


class OneDnnConv1D(Conv1D):
    """GPT-2's `Conv1D` (weight stored `(in, out)`) that multiplies with oneDNN at fp32 CPU inference."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        weight = self.weight.t()  # (out, in): a view, not a copy
        if _takes_onednn(hidden, weight):
            return _onednn_linear(hidden, weight, self.bias)
        return super().forward(hidden)


_REPLACEMENTS = {nn.Linear: OneDnnLinear, Conv1D: OneDnnConv1D}


def use_onednn_linear(model: nn.Module) -> int:
    """Switches every exact `nn.Linear` / `Conv1D` under `model` (itself included) to its oneDNN subclass in place;
    parameters, buffers, hooks and state-dict keys stay as they are. Subclasses (LoRA layers, quantized linears) are
    left alone. Returns how many layers were switched."""
    switched = 0
    for module in model.modules():
        replacement = _REPLACEMENTS.get(type(module))
        if replacement is not None:
            module.__class__ = replacement
            switched += 1
    return switched


__all__ = ["OneDnnLinear", "OneDnnConv1D", "use_onednn_linear", "onednn_linear_enabled", "onednn_linear_available"]
