"""Loads the deployment kit's scripts (the top-level `export/` folder is not a package)."""

import importlib.util
import os

KIT = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "export")


def load(name):
    spec = importlib.util.spec_from_file_location(f"mtl_export_kit_{name}",
                                                  os.path.join(KIT, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
