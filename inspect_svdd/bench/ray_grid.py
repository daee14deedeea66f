"""A recipe's runs as Ray tasks: each (case, seed) fits and scores in its own task with its own thread budget.

Optional (``pip install 'inspect-svdd[ray]'``). Workers read the datasets from
the data root themselves (a shared folder on a cluster) and return their
result; the driver writes the same JSON document as a sequential run after
every finished task, so an interrupted grid keeps what finished and
``--resume`` skips it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from inspect_svdd.bench.data import CACHE_ENV, DATA_ROOT_ENV
from inspect_svdd.bench.runner import RecipeRunner, RunOptions


def _run_case(recipe_file: Path, options: RunOptions, out_dir: Path, case: str, seed: int, threads: int) -> dict[str, Any]:
    """One (case, seed) of a recipe, inside a Ray task."""
    import torch

    from inspect_svdd.bench.recipe import load_recipe

    torch.set_num_threads(threads)
    return RecipeRunner(load_recipe(recipe_file), options, out_dir, log=lambda _m: None).run_one(case, seed)


def run_on_ray(runner: RecipeRunner, threads: int = 1) -> dict[str, Any]:
    """Run every (case, seed) of ``runner`` not yet done as a Ray task on the running instance; return the document."""
    import ray

    remote = ray.remote(_run_case)
    env = {k: os.environ[k] for k in (CACHE_ENV, DATA_ROOT_ENV) if k in os.environ}  # tasks see the driver's settings
    runs = runner.previous_runs()
    done = {(r["case"], r["seed"]) for r in runs}
    order = [(case, seed) for case in runner.cases() for seed in range(runner.opt.seeds)]
    task = remote.options(num_cpus=threads, runtime_env={"env_vars": env})
    pending = {task.remote(runner.recipe.path, runner.opt, runner.out_dir, case, seed, threads): (case, seed)
               for case, seed in order if (case, seed) not in done}
    runner.out_dir.mkdir(parents=True, exist_ok=True)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        case, seed = pending.pop(ready[0])
        result = ray.get(ready[0])
        result["engine"] = {"name": "ray", "threads": threads}
        runs.append(result)
        runs.sort(key=lambda r: order.index((r["case"], r["seed"])) if (r["case"], r["seed"]) in order else len(order))
        runner.save(runs)
        runner.log(f"{runner.recipe.name} {runner.opt.setting} case {case} seed {seed}: AUROC {result['auroc']:.4f} "
                   f"({result['train_seconds']:.0f} s, Ray task)")
    return runner.document(runs)
