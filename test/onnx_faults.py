"""Deliberate faults in an exported ONNX file, for tests that must see a broken engine refused."""

from __future__ import annotations

import shutil
from pathlib import Path


def scale_initializer(src: Path, dst: Path, factor: float, *, which: int = 0) -> str:
    """Copy ``src`` to ``dst`` with the ``which``-th convolution weight multiplied by ``factor``.

    The export report ``<src>.export.json`` is copied beside ``dst`` too (the file looks like an
    intact export whose bytes went bad afterwards). Returns the initializer's name.
    """
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(src))
    names = {i.name for i in proto.graph.initializer}
    conv = [n for n in proto.graph.node if n.op_type == "Conv" and n.input[1] in names][which]
    init = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * factor, init.name))
    onnx.save(proto, str(dst))
    report = Path(str(src) + ".export.json")
    if report.is_file():
        shutil.copy(report, str(dst) + ".export.json")
    return init.name
