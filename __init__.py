"""SimMemRE: similarity-based memory enhanced joint entity and relation extraction for transformers.

Importing the package registers the model with the Auto classes (`AutoConfig`, `AutoModel`, `AutoProcessor`) and the
`joint-re` pipeline task. After `import simmemre`, without `trust_remote_code`:

- `AutoConfig`/`AutoModel`/`AutoProcessor.from_pretrained(folder)` load a saved folder with this package's classes;
- `pipeline("joint-re", model=model, processor=processor)` builds the pipeline from those loaded objects.

`pipeline("joint-re", model=folder)` still needs `trust_remote_code=True`, imported or not: the saved config's
`custom_pipelines` entry names the folder's own pipeline_simmemre.py, which is remote code. With the package imported,
that pipeline then runs this package's model and processor classes, not the folder's copies of them. Saved folders
carry the remote code, so without the package they load with `trust_remote_code=True` alone.
"""

import importlib
import sys

__version__ = "0.1.0"

__all__ = [
    "SimMemREConfig",
    "SimMemREModel",
    "SimMemREOutput",
    "SimMemREPreTrainedModel",
    "SimMemREProcessor",
    "save_for_hub",
    "segment_text",
    "train",
]

if __name__ != "simmemre":
    # The repository root is this package; tools that import the checkout under its folder name (pytest collects the
    # root as a package) get the installed `simmemre`, so classes and registrations exist once.
    sys.modules[__name__] = importlib.import_module("simmemre")
else:
    from transformers import AutoConfig, AutoModel, AutoProcessor

    from . import cli_simmemre  # noqa: F401  (an attribute even when a script loaded it first: scripts/cli_options.py)
    from .configuration_simmemre import SimMemREConfig
    from .modeling_simmemre import SimMemREModel, SimMemREOutput, SimMemREPreTrainedModel
    from .processing_simmemre import SimMemREProcessor
    from .segmentation_simmemre import segment_text

    AutoConfig.register(SimMemREConfig.model_type, SimMemREConfig, exist_ok=True)
    AutoModel.register(SimMemREConfig, SimMemREModel, exist_ok=True)
    AutoProcessor.register(SimMemREConfig, SimMemREProcessor, exist_ok=True)
    # save_pretrained copies the defining files and writes `auto_map`, so saved folders load with trust_remote_code.
    SimMemREConfig.register_for_auto_class()
    SimMemREModel.register_for_auto_class("AutoModel")
    SimMemREProcessor.register_for_auto_class("AutoProcessor")

    from . import pipelines  # noqa: E402,F401  registers the "joint-re" pipeline task
    from .hub_simmemre import save_for_hub  # noqa: E402  (needs the registered task)


def train(config, overrides=(), print_summary: bool = True) -> dict:
    """Train from a config dict or YAML/JSON file with optional command-line style overrides, as scripts/train.py
    does; returns `{"output_dir", "best_model", "results"}` (see `simmemre.experiment_simmemre.train`). A setting the
    run refuses (an unreadable config, an unknown key, a value of the wrong type, a missing data file) raises
    `ValueError` with the one line scripts/train.py stops with, so a loop over configs can catch it."""
    from .experiment_simmemre import refusals_as_value_errors
    from .experiment_simmemre import train as run_training

    with refusals_as_value_errors():
        return run_training(config, overrides, print_summary)
