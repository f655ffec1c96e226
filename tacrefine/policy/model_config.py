"""Shape and size of TacRefineNet (:class:`ModelConfig`), validated field by field.

Data-dependent fields (DoF, fingers, channels) stay ``None`` until training fills them from
the dataset, so one YAML config serves a parallel jaw and a three-finger hand alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tacrefine.config import ConfigError, require, require_positive
from tacrefine.geometry import validate_dofs


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ModelConfig:
    """Shape and size of :class:`TacRefineNet`, plus the ablation switches.

    Attributes:
        dofs: refined DoF the network predicts, canonical order (``x y z roll pitch yaw``).
            ``None`` means "fill in from the dataset" (training does); a network cannot be
            built until it is set.
        num_fingers: fingers of the hand (size of the finger-identity table); ``None`` =
            from the dataset.
        in_channels: tactile channels per finger (1 normal, 3 with shear); ``None`` = from
            the dataset.
        width: token / feature width ``D`` used throughout the network.
        conv_channels: output channels of the encoder's 3x3 convolutions.
        conv_strides: stride of each convolution (same length as ``conv_channels``).
        token_grid: (rows, cols) the encoder pools onto; each cell becomes one token.
        num_heads: attention heads (must divide ``width``).
        finger_layers: Transformer encoder layers across fingers.
        proprio_hidden: width of the proprioception MLP.
        head_hidden: hidden width of the translation and rotation heads.
        dropout: dropout in attention and heads (0 keeps training deterministic per seed).
        coord_channels: append (row, col) coordinate maps to the encoder input.
        use_touch: ablation; ``False`` leaves proprioception only.
        use_target_image: ablation; ``False`` encodes the current image only.
        use_proprio: ablation; ``False`` ignores the joints.
        fingers_used: ablation; indices of the fingers whose *tactile* images are read
            (``None`` = all). Joints of every finger are still read: encoders are not touch.
        use_dof_mask: read the per-sample DoF mask (which of ``dofs`` the object's class
            refines) beside the features, so one network serves classes with different DoF
            sets. Checkpoints written before the mask existed load with ``False``.
        error_head: an additive head that predicts the size of the network's own error
            (a log-variance per DoF, Gaussian NLL on the cross-combined pairs); it reads
            detached features, so it never changes the predicted increment. Checkpoints
            written before it existed load with ``False`` (:mod:`tacrefine.policy.assessment`
            then falls back to the predicted correction alone).
    """

    dofs: tuple[str, ...] | None = None
    num_fingers: int | None = None
    in_channels: int | None = None
    width: int = 64
    conv_channels: tuple[int, ...] = (16, 32, 64)
    conv_strides: tuple[int, ...] = (1, 2, 1)
    token_grid: tuple[int, int] = (4, 4)
    num_heads: int = 4
    finger_layers: int = 1
    proprio_hidden: int = 64
    head_hidden: int = 128
    dropout: float = 0.0
    coord_channels: bool = True
    use_touch: bool = True
    use_target_image: bool = True
    use_proprio: bool = True
    fingers_used: tuple[int, ...] | None = None
    use_dof_mask: bool = True
    error_head: bool = True

    def __post_init__(self) -> None:
        p = "model."
        if self.dofs is not None:
            try:
                object.__setattr__(self, "dofs", validate_dofs(self.dofs, p + "dofs"))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for name in ("num_fingers", "in_channels"):
            value = getattr(self, name)
            require(value is None or (_is_int(value) and value >= 1), p + name,
                    "an integer >= 1, or null to take it from the dataset", value)
        for name in ("width", "num_heads", "finger_layers", "proprio_hidden", "head_hidden"):
            value = getattr(self, name)
            require(_is_int(value) and value >= 1, p + name, "an integer >= 1", value)
        require(self.width % self.num_heads == 0, p + "num_heads", f"a divisor of model.width={self.width}",
                self.num_heads)
        require(len(self.conv_channels) >= 1 and all(_is_int(c) and c >= 1 for c in self.conv_channels),
                p + "conv_channels", "a non-empty list of integers >= 1", list(self.conv_channels))
        require(len(self.conv_strides) == len(self.conv_channels)
                and all(_is_int(s) and s in (1, 2) for s in self.conv_strides),
                p + "conv_strides", "a list of 1 or 2, as long as model.conv_channels",
                list(self.conv_strides))
        require(len(self.token_grid) == 2 and all(_is_int(g) and g >= 1 for g in self.token_grid),
                p + "token_grid", "two integers >= 1 (rows, cols)", list(self.token_grid))
        require_positive(p + "dropout", self.dropout, allow_zero=True)
        require(self.dropout < 1.0, p + "dropout", "a number in [0, 1)", self.dropout)
        require(self.use_touch or self.use_proprio, p + "use_proprio",
                "true when model.use_touch is false (the network needs some input)", self.use_proprio)
        if self.fingers_used is not None:
            fu = self.fingers_used
            ok = len(fu) >= 1 and len(set(fu)) == len(fu) and all(_is_int(i) and i >= 0 for i in fu)
            if ok and self.num_fingers is not None:
                ok = all(i < self.num_fingers for i in fu)
            require(ok, p + "fingers_used",
                    f"null or distinct finger indices in [0, {self.num_fingers or 'num_fingers'})", list(fu))

    @property
    def is_resolved(self) -> bool:
        """True once the data-dependent fields are set."""
        return self.dofs is not None and self.num_fingers is not None and self.in_channels is not None

    def resolved(self, dofs: Sequence[str], num_fingers: int, in_channels: int) -> ModelConfig:
        """Fill the data-dependent fields, refusing values that contradict the data."""
        dofs = validate_dofs(dofs)
        given = {"dofs": dofs, "num_fingers": num_fingers, "in_channels": in_channels}
        for name, value in given.items():
            mine = getattr(self, name)
            require(mine is None or mine == value, f"model.{name}",
                    f"null or the dataset's value {value!r}", mine)
        return dataclasses.replace(self, **given)
