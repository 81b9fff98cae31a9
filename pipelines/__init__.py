"""Pipelines of SimMemRE: the `joint-re` task (`JointREPipeline`).

Importing this module registers the task, so `pipeline("joint-re", model=..., processor=...)` works in-process. The Hub
folder writer is `simmemre.hub_simmemre.save_for_hub`; the HTML view is `simmemre.visualization_simmemre`.
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .pipeline_simmemre import JointREPipeline

PIPELINE_REGISTRY.register_pipeline("joint-re", pipeline_class=JointREPipeline, pt_model=AutoModel, type="text")

__all__ = ["JointREPipeline"]
