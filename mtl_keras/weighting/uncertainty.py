"""Uncertainty weighting: learned homoscedastic task uncertainty.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
Losses for Scene Geometry and Semantics", CVPR 2018.
"""

from __future__ import annotations

from typing import Mapping

import keras
from keras import ops

from mtl_keras._validators import check_choice, check_number
from mtl_keras.weighting.base import LossWeighting

FORMS = ("regression", "classification")
_FORM_OF_KIND = {
    "regression": "regression",
    "binary": "classification",
    "multiclass": "classification",
    "multilabel": "classification",
}


@keras.saving.register_keras_serializable(package="mtl_keras")
class UncertaintyWeighting(LossWeighting):
    """Weights each task by a learned log-variance `s_t = log(sigma_t^2)`.

    The optimized loss is (Kendall et al., CVPR 2018):

        L = sum_t c_t * exp(-s_t) * L_t + 0.5 * s_t

    with `c_t = 1/2` for the regression form (`1/(2 sigma^2) L + log sigma`)
    and `c_t = 1` for the classification form (`1/sigma^2 L + log sigma`).
    The `s_t` are trainable variables of this layer, trained by the model's
    optimizer and saved with the model. The logged weight of a task is
    `c_t * exp(-s_t)`. A task with no label in the batch contributes neither
    its loss nor its `0.5 s_t` term (its `s_t` gets a zero gradient).

    Args:
        forms: Optional `{task_name: "regression" | "classification"}`. Tasks
            not named take the form of their kind: regression tasks the
            regression form, the other kinds the classification form.
        initial_log_variance: Initial value of every `s_t` (finite).

    Raises:
        ValueError: For an unknown form, or forms for tasks that do not exist
            (at compile time).

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.UncertaintyWeighting({"a": "classification"})
    >>> w.build_for_tasks(["a", "b"])
    >>> total, weights = w.combine([2.0, 2.0], [2.0, 2.0], [1.0, 1.0], True)
    >>> float(total), [float(v) for v in weights]   # 1*2 + 0.5*2 (s = 0)
    (3.0, [1.0, 0.5])
    """

    def __init__(
        self,
        forms: Mapping[str, str] | None = None,
        initial_log_variance: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if forms is not None and not isinstance(forms, Mapping):
            raise TypeError(
                "Expected forms to be a dict {task_name: form}. "
                f"Received: forms={forms!r}"
            )
        for task, form in (forms or {}).items():
            check_choice(form, f"the form of task {task!r}", FORMS)
        self.forms = dict(forms or {})
        self.initial_log_variance = check_number(initial_log_variance, "initial_log_variance")

    def build(self, input_shape=None):
        unknown = sorted(set(self.forms) - set(self.task_names))
        if unknown:
            raise ValueError(
                f"Uncertainty forms name tasks that do not exist: {unknown}. "
                f"Expected names among {list(self.task_names)}."
            )
        self.log_variances = self.add_weight(
            shape=(self.num_tasks,),
            initializer=keras.initializers.Constant(self.initial_log_variance),
            trainable=True,
            dtype="float32",
            name="log_variances",
        )

    def task_form(self, name: str) -> str:
        """The form (`"regression"` or `"classification"`) used for task `name`."""
        if name in self.forms:
            return self.forms[name]
        kind = self.tasks[self.task_names.index(name)].kind
        return _FORM_OF_KIND.get(kind, "regression")

    @property
    def coefficients(self) -> list[float]:
        """`c_t`: 0.5 for the regression form, 1.0 for the classification form."""
        return [0.5 if self.task_form(n) == "regression" else 1.0 for n in self.task_names]

    def combine(self, losses, global_losses, present, training):
        losses = ops.cast(ops.convert_to_tensor(losses), "float32")
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        s = ops.cast(self.log_variances, "float32")
        weights = ops.convert_to_tensor(self.coefficients, "float32") * ops.exp(-s) * present
        regularizer = self.scale_for_distribution(ops.sum(0.5 * s * present))
        total = ops.sum(weights * losses) + regularizer
        return total, ops.stop_gradient(weights)

    def get_config(self):
        config = super().get_config()
        config.update({
            "forms": dict(self.forms) or None,
            "initial_log_variance": self.initial_log_variance,
        })
        return config
