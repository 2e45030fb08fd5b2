"""mtl_keras: multi-task learning on Keras 3.

Build a multi-output model with a shared backbone and one named head per task,
train it with `model.fit` on `tf.data`, weight the task losses, tune the
weights with KerasTuner and export it for TF Serving and TFLite.

How the package loads
---------------------
`import mtl_keras` does not import TensorFlow: the `mtl-keras` command
(`mtl_keras.cli:main`, which Python can only reach through this package)
answers `--help` and argument errors without TensorFlow's start-up. The
package is loaded in full, and every class registered with
`keras.saving.register_keras_serializable`, as soon as Keras itself is
loaded, whichever happens first:

- `import mtl_keras` after `import keras`: at once;
- the first use of a public name (`mtl.Task`, `mtl.build_mmoe`, ...);
- the first import of Keras after `import mtl_keras` (the user's own
  `import keras`, `tf.keras`, or an `mtl_keras` submodule importing it).

The last point is what keeps `import mtl_keras` followed by
`keras.saving.load_model("m.keras", safe_mode=True)` working in a fresh
process: Keras 3 resolves a custom class only through its registry
(`keras.saving.get_registered_object`), and imports a class's stored `module`
only for its own packages (`keras`, `keras_hub`, `keras_cv`, `keras_nlp`),
so registration cannot wait for a lazy attribute. A `sys.meta_path` finder
(`_LoadWithKeras`) watches the import of `keras` and of this package's
submodules; after one of them has executed, once Keras is fully imported and
no `mtl_keras` module is still executing, it loads the package and removes
itself. Two alternatives were rejected: a lazy package alone, which loses the
registration above, and an eager package with the command line in a separate
top-level module, which would keep `mtl_keras.cli` and its verbs importing
TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> (module, attribute); attribute None means the module itself.
_EXPORTS = {
    "affinity": ("mtl_keras.affinity", None),
    "backbones": ("mtl_keras.backbones", None),
    "builders": ("mtl_keras.builders", None),
    "callbacks": ("mtl_keras.callbacks", None),
    "data": ("mtl_keras.data", None),
    "evaluation": ("mtl_keras.evaluation", None),
    "exporters": ("mtl_keras.exporters", None),
    "layers": ("mtl_keras.layers", None),
    "plotting": ("mtl_keras.plotting", None),
    "regularizers": ("mtl_keras.regularizers", None),
    "weighting": ("mtl_keras.weighting", None),
    "build_cross_stitch": ("mtl_keras.builders", "build_cross_stitch"),
    "build_grouped": ("mtl_keras.builders", "build_grouped"),
    "build_hard_sharing": ("mtl_keras.builders", "build_hard_sharing"),
    "build_mmoe": ("mtl_keras.builders", "build_mmoe"),
    "build_ple": ("mtl_keras.builders", "build_ple"),
    "build_soft_sharing": ("mtl_keras.builders", "build_soft_sharing"),
    "TaskMeans": ("mtl_keras.metrics", "TaskMeans"),
    "MultiTaskModel": ("mtl_keras.model", "MultiTaskModel"),
    "KINDS": ("mtl_keras.tasks", "KINDS"),
    "Task": ("mtl_keras.tasks", "Task"),
}

if TYPE_CHECKING:  # For type checkers and IDEs; at run time the names load as described above.
    from mtl_keras import (
        affinity,
        backbones,
        builders,
        callbacks,
        data,
        evaluation,
        exporters,
        layers,
        plotting,
        regularizers,
        tuning,
        weighting,
    )
    from mtl_keras.builders import (
        build_cross_stitch,
        build_grouped,
        build_hard_sharing,
        build_mmoe,
        build_ple,
        build_soft_sharing,
    )
    from mtl_keras.metrics import TaskMeans
    from mtl_keras.model import MultiTaskModel
    from mtl_keras.tasks import KINDS, Task

_state = {"loaded": False, "loading": False, "keras": False, "executing": 0}


def _load_all() -> None:
    """Imports every public module (registering the Keras classes) and binds the public names."""
    if _state["loaded"] or _state["loading"]:
        return
    _state["loading"] = True
    try:
        _LoadWithKeras.uninstall()
        for name, (module_name, attribute) in _EXPORTS.items():
            module = importlib.import_module(module_name)
            globals()[name] = module if attribute is None else getattr(module, attribute)
        _state["loaded"] = True
    finally:
        _state["loading"] = False


def _load_if_ready() -> None:
    # Keras is imported and no watched module (Keras, TensorFlow, ours) is still executing.
    if _state["keras"] and _state["executing"] == 0:
        _load_all()


class _ThenLoad(importlib.abc.Loader):
    """Wraps a module's loader: after the module has executed, loads `mtl_keras` if it can."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        _state["executing"] += 1
        try:
            self._loader.exec_module(module)
        finally:
            _state["executing"] -= 1
        _state["keras"] = _state["keras"] or module.__name__ == "keras"
        _load_if_ready()

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _LoadWithKeras(importlib.abc.MetaPathFinder):
    """Wraps the loaders of `keras`, `tensorflow` and `mtl_keras.*` modules in `_ThenLoad`.

    (`import tensorflow` imports Keras part-way through its own initialization:
    the package loads only once TensorFlow has finished too.)
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ("keras", "tensorflow") and not fullname.startswith(__name__ + "."):
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenLoad(spec.loader)
                return spec
        return None

    @classmethod
    def install(cls) -> None:
        if not any(isinstance(f, cls) for f in sys.meta_path):
            sys.meta_path.insert(0, cls())

    @classmethod
    def uninstall(cls) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, cls)]


def __getattr__(name):
    if name == "tuning":
        # `mtl_keras.tuning` imports KerasTuner: load it on first use only.
        _load_all()
        return importlib.import_module("mtl_keras.tuning")
    if name in _EXPORTS:
        _load_all()
        # Also reached while the package is loading (`from mtl_keras import regularizers`
        # in a submodule), so import the target here rather than read it from globals().
        module_name, attribute = _EXPORTS[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mtl_keras' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "KINDS",
    "MultiTaskModel",
    "Task",
    "TaskMeans",
    "affinity",
    "backbones",
    "build_cross_stitch",
    "build_grouped",
    "build_hard_sharing",
    "build_mmoe",
    "build_ple",
    "build_soft_sharing",
    "builders",
    "callbacks",
    "data",
    "evaluation",
    "exporters",
    "layers",
    "plotting",
    "regularizers",
    "tuning",
    "weighting",
]

if "keras" in sys.modules:
    _load_all()
else:
    _LoadWithKeras.install()
