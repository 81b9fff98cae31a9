"""The scripts' shared command-line options: the package's `cli_simmemre` module, loaded from the package's folder
without running the package's `__init__`, which imports torch and transformers (to register the Auto classes): seconds
that `--help` and a usage error should not wait for. It is entered in `sys.modules` under its package name, so the
package, imported later, uses this same module.

Scripts import it as a sibling (`from cli_options import positive_int`): a script's folder is first on `sys.path`.
"""

import importlib.util
import sys
from pathlib import Path

MODULE = "simmemre.cli_simmemre"


def _load():
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    package = importlib.util.find_spec("simmemre")  # (finds the package without importing it)
    if package is None or not package.submodule_search_locations:
        raise SystemExit("the simmemre package is not installed: run `pip install -e .` in the repository")
    location = Path(list(package.submodule_search_locations)[0]) / "cli_simmemre.py"
    if not location.is_file():  # (an install older than these scripts)
        raise SystemExit(f"{location.parent}: the simmemre installed there is older than these scripts; reinstall it")
    spec = importlib.util.spec_from_file_location(MODULE, location)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module


sys.modules[__name__] = _load()
