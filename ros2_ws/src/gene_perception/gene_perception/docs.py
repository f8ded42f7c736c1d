"""The template reference page, generated from the registry (``genevlm docs``)."""

from __future__ import annotations

from .registry import CATEGORIES, GENE_TO_OBJECT, GLOBAL_POSITION, GLOBAL_ROTATION
from .registry.core import Param


def _param_line(param: Param) -> str:
    lengths = " or ".join(map(str, param.lengths))
    if param.items_of is not None:
        offset = -param.items_offset
        lengths = (f"{param.head} + " if param.head else "") + f"{param.stride} × " \
            f"({param.items_of}" + (f" {'+' if offset > 0 else '-'} {abs(offset)}" if offset
                                    else "") + ")"
    kind = "discrete" if param.discrete else "continuous"
    pairs = [f"[{lo:g}, {hi:g}]" for lo, hi in zip(param.low, param.high)]
    if len(set(pairs)) == 1:
        rng = pairs[0]
    elif param.items_of is not None:
        head = ", ".join(pairs[:param.head])
        rng = (f"{head}, then " if head else "") + f"per item: {', '.join(pairs[param.head:])}"
    else:
        rng = ", ".join(pairs[:12]) + (f", … ({len(pairs)} components)" if len(pairs) > 12 else "")
    return f"| `{param.name}` | {lengths} | {param.unit} | {kind} | {rng} | {param.doc} |"


def reference_page() -> str:
    lines = ["# Concept-template reference",
             "",
             "Generated from the registry by `genevlm docs`; do not edit by hand.",
             "",
             "Conventions: lengths in metres, angles in degrees, Euler order x then y then z. "
             "Parameters live in the template frame of the Standard Concept Template Library "
             "(y up, z to the front, x to the right); executed meshes and URDFs are z-up with x "
             "to the front: gene (x, y, z) → object "
             f"{tuple('xyz'[int(row.argmax())] for row in GENE_TO_OBJECT[:3, :3].T)} "
             "(x → y, y → z, z → x).",
             "",
             "Every template ends with `position` (3, m) and `rotation` (3, deg): the instance's "
             "placement in the object frame. The gene's pose:",
             "",
             "| parameter | length | unit | kind | range | meaning |",
             "|---|---|---|---|---|---|",
             _param_line(GLOBAL_POSITION), _param_line(GLOBAL_ROTATION), ""]
    for category in CATEGORIES.values():
        lines += [f"## {category.name}", "", category.doc, "", "| slot | templates | count |",
                  "|---|---|---|"]
        for slot in category.slots:
            count = f"{slot.min_count}..{slot.max_count}"
            mount = f" (mounted on {slot.attach_to})" if slot.attach_to else ""
            lines.append(f"| {slot.name}{mount} | {', '.join(t.name for t in slot.templates)} | "
                         f"{count} |")
        lines.append("")
        for spec in category.templates.values():
            lines += [f"### {category.name} / {spec.name} (role: {spec.role})", "", spec.doc, "",
                      "| parameter | length | unit | kind | range | meaning |",
                      "|---|---|---|---|---|---|"]
            lines += [_param_line(p) for p in spec.params]
            for joint in spec.joints:
                unit = "deg" if joint.type == "revolute" else "m"
                lines.append("")
                lines.append(f"Joint: `{joint.part}` {joint.type} about/along {joint.axis} "
                             f"(template frame), limits in {unit}. {joint.doc}")
            for c in spec.constraints:
                lines.append("")
                lines.append(f"Constraint: `{c.lhs[0]}[{c.lhs[1]}] <= {c.factor:g} * "
                             f"{c.rhs[0]}[{c.rhs[1]}] - {c.margin:g}`.")
            for name in spec.at_least_one:
                lines += ["", f"Constraint: at least one component of `{name}` is 1."]
            if spec.empty_unless is not None:
                rule = spec.empty_unless
                lines += ["", f"Constraint: when every `{rule.param}{list(rule.components)}` is "
                              f"<= {rule.threshold:g}, `{rule.boards}` holds at least one board."]
            lines.append("")
    return "\n".join(lines)
