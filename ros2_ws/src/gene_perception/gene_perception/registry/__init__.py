"""The concept-template registry: the one source of truth for templates and categories.

One module per category declares that category's concept templates (or imports shared ones
from the category that declared them first), its slots and its assembler. Template names,
parameter names and vector lengths follow the Standard Concept Template Library (ConceptFactory)
where it defines the template, so its name is unique only within a category.

Frames: parameters are in the library's template frame (y up, z towards the front, x to the
right); executed meshes, URDFs and scenes are z-up with x to the front (ROS REP 103), see
:data:`GENE_TO_OBJECT`.
"""

from __future__ import annotations

import numpy as np

from . import (bottle, box, bucket, chair, dispenser, eyeglasses, kettle, kitchen_pot, knife,
               laptop, microwave, mug, shampoo, storage_furniture, table, trashcan)
from .core import Category, Param, angle, length

#: The gene's 6D pose: where the object frame sits in the camera/world frame (SPEC §1).
GLOBAL_POSITION = length("global_position", 3, -10.0, 10.0, "object position in the world frame")
GLOBAL_ROTATION = angle("global_rotation", 3, -180.0, 180.0,
                        "object orientation in the world frame, Euler x, y, z")

#: Fixed change of axes from the gene's (template library's) y-up frame to the z-up object frame:
#: gene (x, y, z) → object (z, x, y): gene front +z becomes +x, up +y becomes +z.
GENE_TO_OBJECT = np.array([[0.0, 0.0, 1.0, 0.0],
                           [1.0, 0.0, 0.0, 0.0],
                           [0.0, 1.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0]])

#: The reference benchmark's 16 categories (SPEC §1), in a fixed order.
CATEGORIES: dict[str, Category] = {
    module.CATEGORY.name: module.CATEGORY
    for module in (mug, bottle, bucket, laptop, microwave, storage_furniture, table, chair, box,
                   dispenser, eyeglasses, kettle, kitchen_pot, knife, shampoo, trashcan)
}


def parameter_table() -> dict[str, dict[str, dict[str, list[int]]]]:
    """``{category: {template: {param: [allowed lengths]}}}``, the table a prompted baseline gets."""
    return {c.name: {t.name: {p.name: list(p.lengths) for p in t.params}
                     for t in c.templates.values()}
            for c in CATEGORIES.values()}


__all__ = ["CATEGORIES", "GENE_TO_OBJECT", "GLOBAL_POSITION", "GLOBAL_ROTATION", "Param",
           "parameter_table"]
