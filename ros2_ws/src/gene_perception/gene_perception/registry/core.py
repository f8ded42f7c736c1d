"""Declaration types of the concept-template registry.

A concept template is declared exactly once, as a :class:`ConceptTemplate`: its parameters (with
allowed vector lengths, unit, range and sampling kind), its geometry function, its joints and its
semantic role. A category is declared once as a :class:`Category`: its slots. Everything else
(validation, sampling, the parameter table, tokenizer keys, grammar, URDF, metrics) reads these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

Unit = Literal["m", "deg", "ratio", "count", "bool"]
Params = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Param:
    """One parameter of a concept template.

    ``low``/``high`` give the plausible range per vector component, for the longest allowed
    length; a shorter vector uses the leading components. Discrete parameters take integer values
    in ``[low, high]`` (``bool`` parameters are discrete in ``[0, 1]``).
    """

    name: str
    lengths: tuple[int, ...]
    unit: Unit
    low: tuple[float, ...]
    high: tuple[float, ...]
    doc: str
    discrete: bool = False
    #: For packed per-item vectors (e.g. 12 values per door): the count parameter naming the
    #: number of items. ``low``/``high`` then hold the ``head`` leading components, then one
    #: item; the vector has ``head + stride * (count - items_offset)`` components.
    items_of: str | None = None
    head: int = 0
    items_offset: int = 0

    @property
    def stride(self) -> int:
        return len(self.low) - self.head

    def packed_length(self, count: int) -> int:
        """Vector length of a packed parameter for a given item count."""
        return self.head + self.stride * (count - self.items_offset)

    def bounds(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-component (low, high) for a vector of length ``n``: the leading components, or for
        a packed parameter the head followed by the item bounds repeated."""
        if self.items_of is None:
            return np.array(self.low[:n]), np.array(self.high[:n])
        reps = -(-(n - self.head) // self.stride) if n > self.head else 0
        low = np.concatenate([self.low[:self.head], np.tile(self.low[self.head:], reps)])
        high = np.concatenate([self.high[:self.head], np.tile(self.high[self.head:], reps)])
        return low[:n], high[:n]

    def __post_init__(self) -> None:
        longest = self.head + self.stride if self.items_of else max(self.lengths)
        if len(self.low) != longest or len(self.high) != longest:
            raise ValueError(f"{self.name}: low/high must have {longest} components")
        if any(lo > hi for lo, hi in zip(self.low, self.high)):
            raise ValueError(f"{self.name}: low > high")
        if self.unit in ("count", "bool") and not self.discrete:
            raise ValueError(f"{self.name}: unit {self.unit} requires discrete=True")


def length(name: str, n: int, low: float | tuple[float, ...], high: float | tuple[float, ...],
           doc: str) -> Param:
    """A continuous length vector in metres; scalar bounds apply to every component."""
    return Param(name, (n,), "m", _per_component(low, n), _per_component(high, n), doc)


def angle(name: str, n: int, low: float | tuple[float, ...], high: float | tuple[float, ...],
          doc: str) -> Param:
    """A continuous angle vector in degrees."""
    return Param(name, (n,), "deg", _per_component(low, n), _per_component(high, n), doc)


def count(name: str, low: int, high: int, doc: str) -> Param:
    """A discrete count (one integer)."""
    return Param(name, (1,), "count", (float(low),), (float(high),), doc, discrete=True)


def packed(name: str, count_param: str, counts: range, item: list[tuple[float, float]],
           unit: Unit, doc: str, head: list[tuple[float, float]] = (),
           items_offset: int = 0) -> Param:
    """A flat vector of ``len(item)`` values per item, for ``counts`` items as given by the
    discrete parameter ``count_param`` (declared earlier); ``item`` holds (low, high) per value.
    ``head`` values lead the items, and ``items_offset`` items are not repeated (e.g. STL-C's
    ``3 + 2 * (num_of_part - 1)``: head of 3, item of 2, offset 1)."""
    bounds = [*head, *item]
    return Param(name, tuple(len(head) + len(item) * (k - items_offset) for k in counts), unit,
                 tuple(lo for lo, _ in bounds), tuple(hi for _, hi in bounds), doc,
                 items_of=count_param, head=len(head), items_offset=items_offset)


def ratio(name: str, n: int, low: float | tuple[float, ...], high: float | tuple[float, ...],
          doc: str) -> Param:
    """A continuous dimensionless vector (ratios, scale factors)."""
    return Param(name, (n,), "ratio", _per_component(low, n), _per_component(high, n), doc)


def flag(name: str, doc: str) -> Param:
    """A boolean switch stored as 0 or 1."""
    return Param(name, (1,), "bool", (0.0,), (1.0,), doc, discrete=True)


def _per_component(value: float | tuple[float, ...], n: int) -> tuple[float, ...]:
    if isinstance(value, tuple):
        if len(value) != n:
            raise ValueError(f"expected {n} bounds, got {len(value)}")
        return tuple(float(v) for v in value)
    return (float(value),) * n


#: Every template carries its placement in the object frame as its last two parameters, as in
#: the Standard Concept Template Library.
POSITION = length("position", 3, -1.5, 1.5, "placement of the instance origin in the object frame")
ROTATION = angle("rotation", 3, -180.0, 180.0, "orientation of the instance, Euler x, y, z")


@dataclass(frozen=True)
class Constraint:
    """``params[lhs][i] <= factor * params[rhs][j] - margin`` must hold.

    Validation checks it; the sampler enforces it by narrowing the range of ``lhs`` once ``rhs``
    is known, so ``rhs`` must be declared before ``lhs``.
    """

    lhs: tuple[str, int]
    rhs: tuple[str, int]
    factor: float = 1.0
    margin: float = 0.0

    def bound(self, params: Params) -> float | None:
        """The upper bound on ``lhs`` implied by ``params``, or None if ``rhs`` is absent."""
        name, index = self.rhs
        vector = params.get(name)
        if vector is None or index >= len(vector):
            return None
        return self.factor * float(vector[index]) - self.margin


@dataclass(frozen=True)
class Joint:
    """A movable sub-part of a template, as the URDF articulates it.

    ``part`` names the moving mesh part the geometry function returns, or, for templates holding
    several items (a bank of drawers), the prefix of parts named ``{part}_{k}``. Callables receive
    the parameters and the item index ``k`` (0 for a single part). ``origin`` is the joint origin
    in the template frame; the geometry builds the moving part closed (joint value 0) and the
    executor poses it at ``state``, the current opening. ``limits`` and ``state`` are in degrees
    (revolute) or metres (prismatic); ``axis`` is in the template frame.
    """

    part: str
    type: Literal["revolute", "prismatic"]
    axis: tuple[float, float, float]
    origin: Callable[[Params, int], np.ndarray]
    limits: Callable[[Params, int], tuple[float, float]]
    state: Callable[[Params, int], float] | None = None
    doc: str = ""

    def item(self, part_name: str) -> int | None:
        """The item index if ``part_name`` is this joint's part, else None."""
        if part_name == self.part:
            return 0
        prefix, _, index = part_name.rpartition("_")
        return int(index) if prefix == self.part and index.isdigit() else None


@dataclass(frozen=True)
class EmptyUnless:
    """The template builds nothing when every listed component of ``param`` is at most
    ``threshold``, unless its board vector ``boards`` (``[n, 9 per board]``) holds a board: such
    a gene validates by ranges but would not execute, so validation and the decoding grammar
    reject it."""

    param: str
    components: tuple[int, ...]
    threshold: float
    boards: str


@dataclass(frozen=True)
class Part:
    """One mesh part produced by a geometry function, in the template's local frame."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


GeometryFn = Callable[[Params], list[Part]]


@dataclass(frozen=True)
class ConceptTemplate:
    """A parametric part: parameters in, mesh parts (and joints) out."""

    name: str
    role: str
    doc: str
    params: tuple[Param, ...]
    geometry: GeometryFn
    joints: tuple[Joint, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    #: Flag vectors of which at least one component must be 1 (a carton with no flap at all
    #: builds nothing).
    at_least_one: tuple[str, ...] = ()
    empty_unless: EmptyUnless | None = None

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate parameter names")
        for p in self.params:
            if p.items_of is not None and (p.items_of not in names
                                           or names.index(p.items_of) > names.index(p.name)):
                raise ValueError(f"{self.name}.{p.name}: items_of must name an earlier parameter")
        for c in self.constraints:
            for ref, _ in (c.lhs, c.rhs):
                if ref not in names:
                    raise ValueError(f"{self.name}: constraint names unknown parameter {ref}")
            if names.index(c.rhs[0]) > names.index(c.lhs[0]):
                raise ValueError(f"{self.name}: constraint {c} must reference an earlier parameter")
        rule_names = list(self.at_least_one)
        if self.empty_unless is not None:
            rule_names += [self.empty_unless.param, self.empty_unless.boards]
        if any(n not in names for n in rule_names):
            raise ValueError(f"{self.name}: emptiness rule names an unknown parameter")

    @cached_property
    def param_map(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}


def template(name: str, role: str, doc: str, params: list[Param], geometry: GeometryFn,
             joints: tuple[Joint, ...] = (), constraints: tuple[Constraint, ...] = (),
             at_least_one: tuple[str, ...] = (), empty_unless: EmptyUnless | None = None
             ) -> ConceptTemplate:
    """Declare a template; ``position`` and ``rotation`` are appended to its parameters."""
    return ConceptTemplate(name, role, doc, (*params, POSITION, ROTATION), geometry, joints,
                           constraints, at_least_one, empty_unless)


@dataclass(frozen=True)
class Slot:
    """A place in a category's structure that instances of some templates fill.

    ``attach_to`` names the slot whose instance this one is mounted on (a handle on a door moves
    with the door); by default an instance is mounted on the category's root instance.
    """

    name: str
    templates: tuple[ConceptTemplate, ...]
    min_count: int = 1
    max_count: int = 1
    attach_to: str | None = None

    @property
    def required(self) -> bool:
        return self.min_count > 0


#: The category's generator step after the per-slot draw: places the sampled instances relative
#: to each other (positions, rotations and the sizes that must agree, e.g. leg length = seat
#: height). It receives the instances per slot and may also replace or drop instances (with
#: :meth:`SampledInstance.draw`) so that template combinations stay real (no box lid on a round
#: bin), within the slots' counts.
Assembler = Callable[[dict[str, list["SampledInstance"]], np.random.Generator], None]


@dataclass
class SampledInstance:
    """A template with mutable parameter vectors, as the sampler and assemblers see it."""

    template: ConceptTemplate
    params: dict[str, np.ndarray]

    @classmethod
    def draw(cls, spec: ConceptTemplate, rng: np.random.Generator) -> "SampledInstance":
        """Draw every parameter uniformly from its declared range (integers for discrete ones),
        narrowing ranges by the template's constraints; position and rotation start at zero."""
        params: dict[str, np.ndarray] = {}
        for param in spec.params:
            if param.name in ("position", "rotation"):
                params[param.name] = np.zeros(3)
                continue
            if param.items_of is not None:
                n = param.packed_length(int(params[param.items_of][0]))
            else:
                n = param.lengths[0] if len(param.lengths) == 1 else int(rng.choice(param.lengths))
            low, high = param.bounds(n)
            if param.discrete:
                high = high + 1.0 - 1e-9  # floor of uniform [low, high + 1): uniform integers
            values = rng.uniform(low, high)
            params[param.name] = values
            # Constrained components are redrawn once what they depend on is known (their
            # right-hand side is an earlier parameter or an earlier component of this one),
            # below every bound.
            for k in range(n):
                bounds = [c.bound(params) for c in spec.constraints if c.lhs == (param.name, k)]
                bounds = [b for b in bounds if b is not None]
                if bounds:
                    values[k] = rng.uniform(low[k], max(min(high[k], *bounds), low[k]))
            if param.discrete:
                params[param.name] = np.floor(values)
        return cls(spec, params)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.params[name]

    def set(self, name: str, value) -> np.ndarray:
        """Assign a parameter, clipped into its declared range (rounded if discrete), and
        narrowed by the template's constraints on it."""
        spec = self.template.param_map[name]
        value = np.array(value, dtype=np.float64).reshape(-1)
        low, high = spec.bounds(len(value))
        value = np.clip(value, low, high)
        high = high.copy()
        for c in self.template.constraints:
            if c.lhs[0] == name and c.lhs[1] < len(value):
                bound = c.bound({**self.params, name: value})
                if bound is not None:
                    high[c.lhs[1]] = max(min(high[c.lhs[1]], bound), low[c.lhs[1]])
        value = np.clip(value, low, high)
        if spec.discrete:
            value = np.round(value)
        self.params[name] = value
        return value


@dataclass(frozen=True)
class Category:
    """An object category: its ordered slots (the first is the root, e.g. the body) and the
    assembler that makes sampled parts fit together."""

    name: str
    doc: str
    slots: tuple[Slot, ...]
    assemble: Assembler
    #: Probability that a sampled gene drops an optional instance (SPEC §2 step 2).
    removal_rate: float = 0.3

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for slot in self.slots:
            if slot.min_count < 0 or slot.max_count < max(slot.min_count, 1):
                raise ValueError(f"{self.name}.{slot.name}: bad repeat counts")
            for t in slot.templates:
                if t.name in seen:
                    # A unique template→slot mapping makes slot assignment order-free.
                    raise ValueError(f"{self.name}: template {t.name} in slots {seen[t.name]} "
                                     f"and {slot.name}")
                seen[t.name] = slot.name
        if not self.slots or self.slots[0].min_count != 1 or self.slots[0].max_count != 1:
            raise ValueError(f"{self.name}: the first (root) slot must hold exactly one instance")
        names = [s.name for s in self.slots]
        for slot in self.slots:
            if slot.attach_to is not None and names.index(slot.attach_to) >= names.index(slot.name):
                raise ValueError(f"{self.name}.{slot.name}: attach_to must name an earlier slot")

    @cached_property
    def templates(self) -> dict[str, ConceptTemplate]:
        """This category's templates by name, in slot order."""
        return {t.name: t for s in self.slots for t in s.templates}

    @cached_property
    def _slot_by_template(self) -> dict[str, Slot]:
        return {t.name: s for s in self.slots for t in s.templates}

    def slot_of(self, template_name: str) -> Slot | None:
        return self._slot_by_template.get(template_name)
