"""The Digital Gene: types, parsing with validation, canonical serialisation (SPEC §1)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import errors
from .registry import CATEGORIES, GLOBAL_POSITION, GLOBAL_ROTATION
from .registry.core import ConceptTemplate, Param

#: Slack on range checks so that values printed with float repr and parsed back still validate.
RANGE_TOLERANCE = 1e-9


@dataclass
class ConceptInstance:
    """One concept template with fixed parameters (float64 vectors, keyed by parameter name)."""

    concept_template: ConceptTemplate
    parameters: dict[str, np.ndarray]

    @property
    def template(self) -> str:
        return self.concept_template.name

    def to_json(self) -> dict[str, Any]:
        spec = self.concept_template.param_map
        return {"template": self.template,
                "parameters": {name: _vector_json(value, spec[name])
                               for name, value in self.parameters.items()}}


@dataclass
class Gene:
    """Category, global 6D pose and the list of concept instances, in canonical slot order."""

    category: str
    global_position: np.ndarray
    global_rotation: np.ndarray
    instances: list[ConceptInstance] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category,
                "pose": {"global_position": [float(v) for v in self.global_position],
                         "global_rotation": [float(v) for v in self.global_rotation]},
                "conceptualization": [inst.to_json() for inst in self.instances]}

    def dumps(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Gene):
            return NotImplemented
        return self.to_json() == other.to_json()


def _vector_json(value: np.ndarray, spec: Param) -> list[float] | list[int]:
    if spec.discrete:
        return [int(v) for v in value]
    return [float(v) for v in value]


def loads(text: str, source: str = "$") -> Gene:
    """Parse and validate a gene from JSON text."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.MalformedGene(source, f"not valid JSON ({exc.msg} at line {exc.lineno} "
                                           f"column {exc.colno})") from None
    return from_json(obj)


def load(path: str | Path) -> Gene:
    """Read and validate a gene from a JSON file."""
    return loads(Path(path).read_text())


def from_json(obj: Any) -> Gene:
    """Validate a decoded JSON object against the registry and build the canonical :class:`Gene`.

    Raises a :class:`~gene_perception.errors.GeneError` subclass naming the JSON path and rule.
    """
    _expect_keys(obj, "$", {"category", "pose", "conceptualization"})
    category_name = obj["category"]
    if not isinstance(category_name, str):
        raise errors.MalformedGene("$.category", "must be a string")
    category = CATEGORIES.get(category_name)
    if category is None:
        raise errors.UnknownCategory("$.category", f"unknown category {category_name!r}; known: "
                                                   f"{', '.join(sorted(CATEGORIES))}")
    pose = obj["pose"]
    _expect_keys(pose, "$.pose", {"global_position", "global_rotation"})
    position = _vector(pose["global_position"], GLOBAL_POSITION, "$.pose.global_position")
    rotation = _vector(pose["global_rotation"], GLOBAL_ROTATION, "$.pose.global_rotation")

    items = obj["conceptualization"]
    if not isinstance(items, list):
        raise errors.MalformedGene("$.conceptualization", "must be a list of concept instances")
    parsed: list[tuple[int, int, ConceptInstance]] = []
    counts = {slot.name: 0 for slot in category.slots}
    slot_index = {slot.name: k for k, slot in enumerate(category.slots)}
    for i, item in enumerate(items):
        path = f"$.conceptualization[{i}]"
        _expect_keys(item, path, {"template", "parameters"})
        name = item["template"]
        if not isinstance(name, str):
            raise errors.MalformedGene(f"{path}.template", "must be a string")
        slot = category.slot_of(name)
        if slot is None and not any(name in c.templates for c in CATEGORIES.values()):
            raise errors.UnknownTemplate(f"{path}.template", f"unknown template {name!r}")
        if slot is None:
            raise errors.TemplateNotAllowed(
                f"{path}.template", f"{name} is not allowed in {category_name}; allowed: "
                                    f"{', '.join(category.templates)}")
        counts[slot.name] += 1
        if counts[slot.name] > slot.max_count:
            raise errors.TooManyInstances(
                f"{path}.template", f"slot {slot.name!r} of {category_name} holds at most "
                                    f"{slot.max_count} instance(s)")
        instance = _instance(category.templates[name], item["parameters"], f"{path}.parameters")
        parsed.append((slot_index[slot.name], i, instance))
    for slot in category.slots:
        if counts[slot.name] < slot.min_count:
            raise errors.MissingRequiredSlot(
                "$.conceptualization", f"{category_name} needs at least {slot.min_count} "
                                       f"instance(s) in slot {slot.name!r} "
                                       f"({' | '.join(t.name for t in slot.templates)})")
    parsed.sort(key=lambda entry: entry[:2])
    return Gene(category_name, position, rotation, [inst for _, _, inst in parsed])


def validate(gene: Gene) -> Gene:
    """Re-validate an in-memory gene (e.g. one built by code) by its JSON form."""
    return from_json(gene.to_json())


def _expect_keys(obj: Any, path: str, keys: set[str]) -> None:
    if not isinstance(obj, Mapping):
        raise errors.MalformedGene(path, f"must be an object with keys {sorted(keys)}")
    missing = keys - obj.keys()
    if missing:
        raise errors.MalformedGene(path, f"missing key(s) {sorted(missing)}")
    extra = obj.keys() - keys
    if extra:
        raise errors.MalformedGene(path, f"unexpected key(s) {sorted(map(str, extra))}")


def _instance(spec: ConceptTemplate, raw: Any, path: str) -> ConceptInstance:
    if not isinstance(raw, Mapping):
        raise errors.MalformedGene(path, "must be an object of parameter vectors")
    declared = spec.param_map
    for key in raw:
        if key not in declared:
            raise errors.UnknownParameter(
                f"{path}.{key}", f"{spec.name} has no parameter {key!r}; parameters: "
                                 f"{', '.join(declared)}")
    values: dict[str, np.ndarray] = {}
    for param in spec.params:
        if param.name not in raw:
            raise errors.MissingParameter(f"{path}.{param.name}",
                                          f"{spec.name} requires parameter {param.name!r}")
        values[param.name] = _vector(raw[param.name], param, f"{path}.{param.name}")
        if param.items_of is not None:
            items = int(values[param.items_of][0])
            if len(values[param.name]) != param.packed_length(items):
                raise errors.WrongVectorLength(
                    f"{path}.{param.name}", f"has {len(values[param.name])} value(s), expected "
                                            f"{param.packed_length(items)} for "
                                            f"{param.items_of} = {items}")
    for name in spec.at_least_one:
        if not values[name].any():
            raise errors.ConstraintViolated(f"{path}.{name}", f"{spec.name} builds nothing "
                                                              f"unless one {name} is 1")
    rule = spec.empty_unless
    if rule is not None and all(values[rule.param][k] <= rule.threshold
                                for k in rule.components) \
            and (len(values[rule.boards]) < 2 or round(values[rule.boards][0]) < 1):
        raise errors.ConstraintViolated(
            f"{path}.{rule.boards}", f"{spec.name} builds nothing: {rule.param} is empty, so "
                                     f"{rule.boards} must hold a board")
    for constraint in spec.constraints:
        bound = constraint.bound(values)
        name, index = constraint.lhs
        if bound is not None and index < len(values[name]) \
                and values[name][index] > bound + RANGE_TOLERANCE:
            rhs_name, rhs_index = constraint.rhs
            raise errors.ConstraintViolated(
                f"{path}.{name}[{index}]",
                f"{values[name][index]:g} must be <= {constraint.factor:g} * "
                f"{rhs_name}[{rhs_index}] - {constraint.margin:g} = {bound:g}")
    return ConceptInstance(spec, values)


def _vector(raw: Any, param: Param, path: str) -> np.ndarray:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = [raw]  # a bare number is a vector of length one
    if not isinstance(raw, list):
        raise errors.MalformedGene(path, "must be a list of numbers")
    if len(raw) not in param.lengths:
        allowed = " or ".join(map(str, param.lengths))
        raise errors.WrongVectorLength(path, f"has {len(raw)} value(s), {param.name} takes "
                                             f"{allowed}")
    lows, highs = param.bounds(len(raw))
    for k, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise errors.MalformedGene(f"{path}[{k}]", f"must be a number, got {type(v).__name__}")
        try:
            v = float(v)
        except OverflowError:  # a JSON integer too large for a float
            v = math.inf
        if not math.isfinite(v):
            raise errors.NonFiniteValue(f"{path}[{k}]", f"must be finite, got {v}")
        if param.discrete and v != int(v):
            raise errors.NotInteger(f"{path}[{k}]", f"{param.name} is discrete, got {v}")
        lo, hi = lows[k], highs[k]
        if not lo - RANGE_TOLERANCE <= v <= hi + RANGE_TOLERANCE:
            raise errors.OutOfRange(f"{path}[{k}]", f"{v:g} {param.unit} is outside "
                                                    f"[{lo:g}, {hi:g}]")
    return np.asarray(raw, dtype=np.float64)
