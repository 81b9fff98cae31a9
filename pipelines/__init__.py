"""Pipelines of SimMemRE: the `joint-re` task (`JointREPipeline`) and `save_for_hub`, which writes a complete Hub model
repository (weights, remote code, processor, `custom_pipelines`, model card).

Importing this module registers the task, so `pipeline("joint-re", model=..., processor=...)` works in-process.
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .pipeline_simmemre import JointREPipeline

PIPELINE_REGISTRY.register_pipeline("joint-re", pipeline_class=JointREPipeline, pt_model=AutoModel, type="text")

from .hub import render_model_card, save_for_hub  # noqa: E402  (needs the registered task)

__all__ = ["JointREPipeline", "render_model_card", "save_for_hub"]
