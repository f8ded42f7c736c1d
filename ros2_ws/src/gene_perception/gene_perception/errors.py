"""Typed errors for malformed genes; each names the JSON path at fault and the broken rule."""

from __future__ import annotations


class GeneError(ValueError):
    """A gene that does not validate. ``path`` is a JSONPath such as
    ``$.conceptualization[1].parameters.outer_size[2]``; ``rule`` names the broken rule."""

    rule = "malformed"

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message} [{self.rule}]")


class MalformedGene(GeneError):
    rule = "malformed"


class UnknownCategory(GeneError):
    rule = "unknown_category"


class UnknownTemplate(GeneError):
    rule = "unknown_template"


class TemplateNotAllowed(GeneError):
    rule = "template_not_allowed"


class MissingRequiredSlot(GeneError):
    rule = "missing_required_slot"


class TooManyInstances(GeneError):
    rule = "too_many_instances"


class MissingParameter(GeneError):
    rule = "missing_parameter"


class UnknownParameter(GeneError):
    rule = "unknown_parameter"


class WrongVectorLength(GeneError):
    rule = "wrong_vector_length"


class NonFiniteValue(GeneError):
    rule = "non_finite"


class NotInteger(GeneError):
    rule = "not_integer"


class OutOfRange(GeneError):
    rule = "out_of_range"


class ConstraintViolated(GeneError):
    rule = "constraint_violated"


class ExecutionError(GeneError):
    """A gene validated but its execution failed or produced an empty mesh."""

    rule = "not_executable"
