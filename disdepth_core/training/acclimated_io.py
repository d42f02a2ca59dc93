"""Save and load an acclimated teacher (adapters + ghost decoder, and the teacher's weights).

Layout of ``<run>/acclimated/``: ``acclimated.safetensors`` (the whole
:class:`AcclimatedTeacher` state: teacher, adapters, ghost decoder) and
``acclimated.yaml`` (the student ModelConfig of the ghost decoder, the feature source and
the number of unfrozen teacher blocks). The teacher architecture is rebuilt from the
teacher directory the run was trained from, then every weight is restored.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from safetensors.torch import load_file, save_file

from ..config import from_dict, to_dict
from ..errors import DisdepthError
from ..models.config import ModelConfig
from ..models.ghost_decoder import AcclimatedTeacher


def save_acclimated(model: AcclimatedTeacher, directory: str | Path) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(d / "acclimated.safetensors"))
    meta = {
        "student_model": to_dict(model.ghost.config),
        "source": model.source,
        "train_last_blocks": model.train_last_blocks,
        "teacher_source": getattr(model.teacher, "source", None),
    }
    (d / "acclimated.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return d


def load_acclimated(directory: str | Path, teacher) -> AcclimatedTeacher:
    """Rebuild an :class:`AcclimatedTeacher` around ``teacher`` and restore all its weights."""
    d = Path(directory)
    st, ym = d / "acclimated.safetensors", d / "acclimated.yaml"
    if not st.is_file() or not ym.is_file():
        raise DisdepthError(f"{d}: not an acclimated teacher (expected acclimated.safetensors and acclimated.yaml)")
    meta = yaml.safe_load(ym.read_text())
    cfg = from_dict(ModelConfig, meta["student_model"], source=str(ym), prefix="student_model")
    model = AcclimatedTeacher(teacher, cfg, train_last_blocks=int(meta["train_last_blocks"]), source=meta["source"])
    missing, unexpected = model.load_state_dict(load_file(str(st)), strict=False)
    if missing or unexpected:
        first = (missing or unexpected)[0]
        raise DisdepthError(f"{st}: weights do not match the teacher/ghost decoder ({len(missing)} missing, "
                            f"{len(unexpected)} unexpected, first {first!r})")
    return model
