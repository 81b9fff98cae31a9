"""A simulated accelerator on the CPU, for catching host/device mix-ups without a GPU (see `SimulatedDevice`)."""

import sys
from collections import Counter
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakTensorKeyDictionary

# The stand-in accelerator: a CPU device *with an index*. Real CPU tensors report `cpu` (no index), so code that
# passes a tensor's `.device` along (`device=hidden.device`, `.to(device)`) is told apart from code that makes host
# tensors (no `device=`, `torch.from_numpy`, `.cpu()`, `.to("cpu")`).
ACCELERATOR = torch.device("cpu", 0)
REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"

Tensor = torch.Tensor
DOWNLOADS = {
    Tensor.tolist,
    Tensor.item,
    Tensor.numpy,
    Tensor.__array__,
    Tensor.__int__,
    Tensor.__float__,
    Tensor.__bool__,
    Tensor.__index__,
}
FACTORIES_FROM_DATA = {torch.tensor, torch.as_tensor, Tensor.new_tensor}
DEVICE_PROPERTY = Tensor.device.__get__


def _leaves(value):
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, slice):
        yield from _leaves((value.start, value.stop, value.step))


def _as_device(value):
    if isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        try:
            return torch.device(value)
        except RuntimeError:
            return None
    return None


def _caller():
    """`file:function:line` of the innermost frame in the project's code (outside the tests), else the innermost."""
    frame = sys._getframe(2)
    fallback = None
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if fallback is None and "torch" not in path.parts:
            fallback = frame
        if REPO in path.parents and TESTS not in path.parents and ".venv" not in path.parts:
            return f"{path.name}:{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    frame = fallback or sys._getframe(2)
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"


class SimulatedDevice(TorchFunctionMode):
    """Runs torch code on the CPU while tracking, for every tensor, whether it would live on the accelerator or on
    the host, and records every operation that would fail on a real accelerator.

    Every tensor is real (CPU) and every value is computed, so data-dependent code (`nonzero`, `.tolist()`, numpy
    clustering) runs as usual. What is simulated is placement, through a `TorchFunctionMode` that sees each torch
    call:

    - a tensor is *on the accelerator* when `put` marked it (model parameters), when it was made with
      `device=ACCELERATOR` or moved with `.to(ACCELERATOR)` / `.cuda()`, or when an operation computed it from an
      accelerator tensor; `tensor.device` then reports `ACCELERATOR`, so `device=x.device` keeps a tensor there;
    - anything else is *on the host*: `torch.tensor(...)`/`torch.zeros(...)` without `device=`, `torch.from_numpy`,
      `.cpu()`, `.to("cpu")`.

    Recorded (with the project frame that made the call):
    - `errors`: operations a real accelerator rejects: an op mixing host and accelerator tensors (host 0-dim tensors
      excepted, as CUDA treats them as scalars), or a host tensor indexed with accelerator indices (issue 13's crash);
    - `uploads`: implicit host-to-device copies CUDA does allow (an accelerator tensor indexed with host indices,
      slice-assignment across devices) and explicit ones (`.to(ACCELERATOR)` of a host tensor, `torch.tensor(data,
      device=ACCELERATOR)`);
    - `downloads`: device-to-host transfers, each a synchronisation (`.tolist()`, `.item()`, `int()`, `bool()`,
      `.numpy()`, `.cpu()`, `.to("cpu")`).
    """

    def __init__(self):
        super().__init__()
        self.on_device = WeakTensorKeyDictionary()
        self.errors = Counter()
        self.uploads = Counter()
        self.downloads = Counter()

    def put(self, *tensors):
        for tensor in tensors:
            self.on_device[tensor] = True
        return tensors[0] if len(tensors) == 1 else tensors

    def put_module(self, module):
        self.put(*module.parameters(), *module.buffers())
        return module

    def is_on_device(self, tensor) -> bool:
        return tensor in self.on_device

    def _mark(self, result, on_device: bool):
        for tensor in _leaves(result):
            if on_device:
                self.on_device[tensor] = True
            else:
                self.on_device.pop(tensor, None)
        return result

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func == DEVICE_PROPERTY:
            return ACCELERATOR if self.is_on_device(args[0]) else func(*args, **kwargs)
        tensors = list(_leaves((args, kwargs)))
        device_inputs = [t for t in tensors if self.is_on_device(t)]
        if func in DOWNLOADS:
            if device_inputs:
                self.downloads[f"{func.__name__} at {_caller()}"] += 1
            return func(*args, **kwargs)

        # Explicit moves. `.to` with the same (real) device may return its input: moved results are aliased so the
        # input keeps its own placement.
        target = None
        if func is Tensor.cpu:
            target = torch.device("cpu")
        elif func is Tensor.cuda:
            target = ACCELERATOR
        elif func is Tensor.to:
            other = [t for t in list(args[1:]) + list(kwargs.values()) if isinstance(t, Tensor)]
            if other:
                target = ACCELERATOR if self.is_on_device(other[0]) else torch.device("cpu")
            else:
                for value in list(args[1:]) + [kwargs.get("device")]:
                    if _as_device(value) is not None:
                        target = _as_device(value)
                        break
        if target is not None:
            to_device = target == ACCELERATOR or target.type != "cpu"
            source_on_device = self.is_on_device(args[0])
            if func is not Tensor.to:
                result = args[0]
            else:
                result = func(
                    args[0],
                    *[ACCELERATOR.type if _as_device(a) is not None else a for a in args[1:]],
                    **{k: (ACCELERATOR.type if k == "device" else v) for k, v in kwargs.items()},
                )
            if result is args[0]:
                result = result.view_as(result)
            if to_device and not source_on_device:
                self.uploads[f"to at {_caller()}"] += 1
            elif source_on_device and not to_device:
                self.downloads[f"{func.__name__} at {_caller()}"] += 1
            return self._mark(result, to_device)

        # Factories with an explicit device.
        device = _as_device(kwargs.get("device"))
        if device is not None:
            on_device = device == ACCELERATOR or device.type != "cpu"
            if on_device and func in FACTORIES_FROM_DATA and not (tensors and self.is_on_device(tensors[0])):
                self.uploads[f"{func.__name__} at {_caller()}"] += 1
            kwargs = {**kwargs, "device": "cpu"}
            return self._mark(func(*args, **kwargs), on_device)

        if device_inputs:
            host_inputs = [t for t in tensors if not self.is_on_device(t) and t.dim() > 0]
            if host_inputs:
                self._classify_mix(func, args)
        return self._mark(func(*args, **kwargs), bool(device_inputs))

    def _classify_mix(self, func, args):
        where = _caller()
        name = getattr(func, "__name__", str(func))
        if func in (Tensor.__getitem__, Tensor.__setitem__):
            indexed_on_device = self.is_on_device(args[0])
            index = list(_leaves(args[1]))
            if not indexed_on_device and any(self.is_on_device(t) for t in index):
                self.errors[f"host tensor indexed with device indices ({name}) at {where}"] += 1
                return
            if (
                func is Tensor.__setitem__
                and isinstance(args[2], Tensor)
                and args[2].dim() > 0
                and (self.is_on_device(args[2]) != indexed_on_device)
                and index
            ):
                self.errors[f"index_put_ across devices at {where}"] += 1
                return
            self.uploads[f"implicit copy ({name}) at {where}"] += 1
            return
        if func is Tensor.copy_:
            self.uploads[f"copy_ at {where}"] += 1
            return
        self.errors[f"{name} mixes host and device tensors at {where}"] += 1


def on_simulated_device(batch: dict, guard: SimulatedDevice) -> dict:
    """`batch` moved to the simulated accelerator (call inside the guard)."""
    return {key: value.to(ACCELERATOR) if isinstance(value, Tensor) else value for key, value in batch.items()}
