"""Pipelines of SimMemRE: the `joint-re` task (`JointREPipeline`).

Importing this module (`import simmemre` does) registers the task, so `pipeline("joint-re", model=model,
processor=processor)` with a loaded `SimMemREModel` and `SimMemREProcessor` needs no `trust_remote_code`. A saved
folder or Hub id, `pipeline("joint-re", model=folder)`, needs `trust_remote_code=True` even in-process: its config's
`custom_pipelines` entry points at the folder's own pipeline_simmemre.py, which transformers treats as remote code. The
Hub folder writer is `simmemre.hub_simmemre.save_for_hub`; the HTML view is `simmemre.visualization_simmemre`.
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .pipeline_simmemre import JointREPipeline

PIPELINE_REGISTRY.register_pipeline("joint-re", pipeline_class=JointREPipeline, pt_model=AutoModel, type="text")

__all__ = ["JointREPipeline"]
