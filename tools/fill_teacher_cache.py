"""Fill the corpus ablation's teacher-output cache for one row, split over processes:

    python tools/fill_teacher_cache.py config/ablation/corpus.yaml "+ output KD" 0 SHARD NUM_SHARDS
"""

import dataclasses
import sys

from disdepth_core.config import load_config
from disdepth_core.training.ablation import AblationConfig, _run_dir, row_run_config
from disdepth_core.training.teacher_cache import fill_cache

ab = load_config(AblationConfig, sys.argv[1])
row = next(r for r in ab.rows if r.name == sys.argv[2])
seed, shard, num = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
root = ab.world.root
ab = dataclasses.replace(ab, dataset=dataclasses.replace(ab.dataset, root=f"{root}/train"),
                         val_dataset=dataclasses.replace(ab.val_dataset, root=f"{root}/val"))
teacher = dataclasses.replace(ab.teacher, path=str(_run_dir(ab, seed, "teacher") / "teacher"), arch=None)
cache = fill_cache(row_run_config(ab, row, seed, teacher), shard=shard, num_shards=num)
print(f"cache {cache.dir}: {cache.hits} hits, {cache.misses} computed")
