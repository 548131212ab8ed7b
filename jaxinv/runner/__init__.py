"""One runner core for every registered method: what `experiments.run`, the demo, the sweep and the
bench share.

`core.execute(config)` checks the whole config, loads data and network, samples batch by batch
(`batch.make_batch_fn`, data parallel over every device) and writes the run directory (`files`):
config.json, label/ measurement/ recon/ [mean/ std/ samples/] PNGs, metrics.csv, grid.png and
summary.json, with LPIPS/FID from `metrics` when their weights are converted.
"""

from jaxinv.runner.batch import batch_fn_for, make_batch_fn
from jaxinv.runner.core import check_run_config, execute, load_examples
from jaxinv.runner.files import image_metrics, read_rows, start_run, versions

__all__ = ["batch_fn_for", "check_run_config", "execute", "image_metrics", "load_examples", "make_batch_fn",
           "read_rows", "start_run", "versions"]
