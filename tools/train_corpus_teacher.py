"""Train only the corpus ablation's teacher for one seed (what `disdepth ablate` does first), so the
supervised rows can train on the other core at the same time:

    python tools/train_corpus_teacher.py config/ablation/corpus.yaml 0
"""

import dataclasses
import sys

from disdepth_core.config import load_config
from disdepth_core.training.ablation import AblationConfig, _override, _run_cfg, _run_dir, render_world
from disdepth_core.training.trainer import train

ab = load_config(AblationConfig, sys.argv[1])
seed = int(sys.argv[2]) if len(sys.argv) > 2 else ab.seeds[0]
tr, va = render_world(ab.world)
ab = dataclasses.replace(ab, dataset=dataclasses.replace(ab.dataset, root=str(tr)),
                         val_dataset=dataclasses.replace(ab.val_dataset, root=str(va)))
tab = dataclasses.replace(ab, dataset=_override(ab.dataset, ab.teacher_dataset, "teacher_dataset"))
train(_run_cfg(tab, "teacher", _run_dir(ab, seed, "teacher"), seed, ab.teacher_budget, teacher_loss=ab.teacher_loss,
                 teacher_sky_depth=ab.teacher_sky_depth))
