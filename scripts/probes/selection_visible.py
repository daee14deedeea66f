"""Run selection_offline.py with a stronger visibility bar on synthetic defects (VIS grey levels; default 60).

VIS=60 python scripts/probes/selection_visible.py MODEL_DIR DATASET_ROOT [families] [overrides JSON]
"""

import os
import runpy
import sys

from inspect_svdd.model import defects

defects.VISIBLE = int(os.environ.get("VIS", "60"))
sys.argv = ["selection_offline.py", *sys.argv[1:]]
runpy.run_path("scripts/probes/selection_offline.py", run_name="__main__")
