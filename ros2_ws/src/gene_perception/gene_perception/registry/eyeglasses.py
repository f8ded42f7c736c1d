"""Eyeglasses: a pair of lenses or rims (the root), two temples hinged at the frame's outer
corners, an optional bridge between the lenses and optional nose pads. All nine templates of the
Standard Concept Template Library's Eyeglasses are declared (Trapezoidal_Glasses,
TrapezoidalFrame_Glasses, Round_Glasses, RoundFrame_Glasses, Regular_Leg, Trifold_Leg,
Standard_Support, Standard_Connector, Dual_Connector); none is left out. The library composes its
rotations in "YXZ" order; here every rotation is the registry's x-then-y-then-z, with each angle
keeping the library's meaning (wrap about y, tilt about z, droop and ear bend about x, fold about
y), mirrored for the left side as the library does.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right. The lenses lie on the
plane z = 0 with their thickness to the front (+z); the right lens (x > 0) starts at
x = interval / 2 and is wrapped back about y and tilted about z, the left one is its mirror image.
The temples run back (-z) from the hinges; each folds about the vertical through its hinge.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, length,
                   template)

#: Points on the outline of a round lens.
LENS_SEGMENTS = 32

# --- mesh helpers -----------------------------------------------------------------------------


def _prism(outline: np.ndarray, depth: float) -> g.Mesh:
    """Solid of a convex counter-clockwise outline in the x-y plane, from z = 0 to z = depth."""
    n = len(outline)
    back = np.column_stack([outline, np.zeros(n)])
    return g.loft(np.stack([back, back + [0.0, 0.0, depth]]))


def _ring_prism(outer: np.ndarray, inner: np.ndarray, depth: float) -> g.Mesh:
    """Rim between two counter-clockwise outlines in the x-y plane with the same point count
    (``inner`` inside ``outer``), from z = 0 to z = depth."""
    n = len(outer)
    z0, z1 = np.zeros((n, 1)), np.full((n, 1), depth)
    vertices = np.concatenate([np.hstack([outer, z0]), np.hstack([outer, z1]),
                               np.hstack([inner, z0]), np.hstack([inner, z1])])
    i = np.arange(n)
    j = (i + 1) % n
    ob, of, ib, if_ = i, i + n, i + 2 * n, i + 3 * n
    jb, jf, kb, kf = j, j + n, j + 2 * n, j + 3 * n
    faces = np.concatenate([
        np.stack([ob, jb, jf], 1), np.stack([ob, jf, of], 1),      # outer wall
        np.stack([ib, kf, kb], 1), np.stack([ib, if_, kf], 1),     # inner wall
        np.stack([of, jf, kf], 1), np.stack([of, kf, if_], 1),     # front
        np.stack([ob, kb, jb], 1), np.stack([ob, ib, kb], 1)])     # back
    return vertices, faces.astype(np.int64)


def _transform(mesh: g.Mesh, rotation: np.ndarray, shift: np.ndarray) -> g.Mesh:
    return mesh[0] @ rotation.T + shift, mesh[1]

# --- lens outlines ----------------------------------------------------------------------------


def _trapezoid(top: float, bottom: float, height: float, offset: float) -> np.ndarray:
    """Counter-clockwise trapezoid centred on the origin; the top edge shifted by ``offset``."""
    return np.array([[-bottom / 2, -height / 2], [bottom / 2, -height / 2],
                     [top / 2 + offset, height / 2], [-top / 2 + offset, height / 2]])


def _ellipse(rx: float, ry: float) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, LENS_SEGMENTS, endpoint=False)
    return np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)


def _inset(outline: np.ndarray, width: float) -> np.ndarray:
    """A convex counter-clockwise polygon with every edge moved inwards by ``width``."""
    edge = np.roll(outline, -1, axis=0) - outline
    normal = np.stack([-edge[:, 1], edge[:, 0]], 1) / np.linalg.norm(edge, axis=1)[:, None]
    c = np.einsum("ij,ij->i", normal, outline) + width  # edge i: normal_i . x = c_i
    prev = np.roll(np.arange(len(outline)), 1)  # vertex i joins edges i-1 and i
    a = np.stack([normal[prev], normal], axis=1)
    return np.linalg.solve(a, np.stack([c[prev], c], axis=1)[..., None])[..., 0]


def _outline(p) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(outer outline, inner outline or None, depth) of the right lens or rim, centred."""
    if "top_offset" in p:
        top, bottom, height, depth = p["size"]
        outer = _trapezoid(top, bottom, height, p["top_offset"][0])
        inner = _inset(outer, p["width"][0]) if "width" in p else None
        return outer, inner, depth
    rx, ry, depth = p["size"]
    if "width" in p:
        w = p["width"][0]
        return _ellipse(rx, ry), _ellipse(rx - w, ry - w), depth
    return _ellipse(rx, ry), None, depth


def _lens_pose(p, outer: np.ndarray, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotation, shift) that take the centred right lens to its place: wrapped about y by
    glass_rotation[0] and tilted about z by glass_rotation[1], its inner edge at x = interval/2
    and its rearmost point on z = 0."""
    wrap, tilt = p["glass_rotation"]
    rotation = g.rotation_matrix((0.0, wrap, tilt))
    n = len(outer)
    corners = np.concatenate([np.column_stack([outer, np.zeros(n)]),
                              np.column_stack([outer, np.full(n, depth)])]) @ rotation.T
    shift = np.array([p["interval"][0] / 2 - corners[:, 0].min(), 0.0, -corners[:, 2].min()])
    return rotation, shift


def lens_back(p) -> np.ndarray:
    """The back outline (n, 3) of the right lens or rim as placed, for the assembler."""
    outer, _, depth = _outline(p)
    rotation, shift = _lens_pose(p, outer, depth)
    return np.column_stack([outer, np.zeros(len(outer))]) @ rotation.T + shift


def _glasses(p) -> list[Part]:
    outer, inner, depth = _outline(p)
    right = _prism(outer, depth) if inner is None else _ring_prism(outer, inner, depth)
    right = _transform(right, *_lens_pose(p, outer, depth))
    return [Part("glasses", *g.concat([right, g.mirror_x(right)]))]

# --- glasses ----------------------------------------------------------------------------------


_INTERVAL = length("interval", 1, 0.0, 0.026, "gap between the inner edges of the two lenses")
_GLASS_ROTATION = angle("glass_rotation", 2, (-15.0, -10.0), (20.0, 20.0),
                        "per lens (mirrored for the left): wrap about y (outer edge back), "
                        "tilt about z (outer edge up)")
_TRAPEZOID = length("size", 4, (0.035, 0.025, 0.02, 0.0012), (0.072, 0.07, 0.06, 0.007),
                    "lens top edge length (x), bottom edge length (x), height (y), "
                    "thickness (z)")
_TOP_OFFSET = length("top_offset", 1, -0.008, 0.008,
                     "outward x shift of the top edge against the bottom edge")
_ELLIPSE = length("size", 3, (0.016, 0.013, 0.0012), (0.038, 0.036, 0.007),
                  "lens radius in x, radius in y, thickness (z)")

TRAPEZOIDAL_GLASSES = template(
    "Trapezoidal_Glasses", "glasses",
    "Two solid trapezoidal lenses side by side, mirrored about x = 0.",
    [_TRAPEZOID, _INTERVAL, _GLASS_ROTATION, _TOP_OFFSET], _glasses)

TRAPEZOIDALFRAME_GLASSES = template(
    "TrapezoidalFrame_Glasses", "glasses",
    "Two trapezoidal rims (open frames) side by side, mirrored about x = 0.",
    [_TRAPEZOID, _INTERVAL, _GLASS_ROTATION, _TOP_OFFSET,
     length("width", 1, 0.001, 0.007, "rim bar width in the lens plane")],
    _glasses, constraints=(Constraint(("width", 0), ("size", 2), factor=0.25),))

ROUND_GLASSES = template(
    "Round_Glasses", "glasses", "Two solid elliptical lenses side by side, mirrored about x = 0.",
    [_ELLIPSE, _INTERVAL, _GLASS_ROTATION], _glasses)

ROUNDFRAME_GLASSES = template(
    "RoundFrame_Glasses", "glasses",
    "Two elliptical rims side by side, mirrored about x = 0.",
    [length("size", 3, (0.016, 0.013, 0.0012), (0.038, 0.036, 0.007),
            "rim outer radius in x, outer radius in y, rim thickness (z)"),
     _INTERVAL,
     length("width", 1, 0.001, 0.006, "rim width (inner radii are the outer ones minus it)"),
     _GLASS_ROTATION],
    _glasses, constraints=(Constraint(("width", 0), ("size", 1), factor=0.35),))

GLASSES = (TRAPEZOIDAL_GLASSES, TRAPEZOIDALFRAME_GLASSES, ROUND_GLASSES, ROUNDFRAME_GLASSES)

# --- temples ----------------------------------------------------------------------------------


def _hinge_x(p) -> float:
    """x of the right temple's pivot: the inner front edge of its arm."""
    outer = p["glass_interval"][0] / 2 + p["offset_x"][0]
    if "connector_size" in p:
        outer += p["connector_size"][0]
    return outer - p["size1"][0]


def _temple(p) -> g.Mesh:
    """The right temple at joint value 0 with its pivot at the origin: arm back along -z, ear
    tip bent down (rotation_2[0]) and in (rotation_2[1]), the whole drooped by rotation_1[0]."""
    s0, s1, arm = p["size1"]
    t0, t1, tip = p["size2"]
    bend, turn = p["rotation_2"]
    lap = max(s1, t1) / 2  # the tip reaches into the arm so the bend shows no notch
    ear = g.place(g.box((t0, t1, tip + lap), (0.0, 0.0, -(tip - lap) / 2)),
                  (s0 / 2, 0.0, -arm), (-bend, turn, 0.0))
    body = g.concat([g.box((s0, s1, arm), (s0 / 2, 0.0, -arm / 2)), ear])
    return g.place(body, rotation=(-p["rotation_1"][0], 0.0, 0.0))


def _temples(p) -> list[Part]:
    x = _hinge_x(p)
    right = _temple(p)
    return [Part("temple_0", *g.place(g.mirror_x(right), (-x, 0.0, 0.0))),
            Part("temple_1", *g.place(right, (x, 0.0, 0.0)))]


def _regular_leg(p) -> list[Part]:
    return _temples(p)


def _trifold_leg(p) -> list[Part]:
    cx, cy, cz = p["connector_size"]
    inner = p["glass_interval"][0] / 2 + p["offset_x"][0]
    piece = g.box((cx, cy, cz), (inner + cx / 2, 0.0, cz / 2))
    return [Part("leg", *g.concat([piece, g.mirror_x(piece)])), *_temples(p)]


#: Fold angle limits (deg): -90 folded flat behind the lenses, 0 open, a little beyond.
FOLD = (-90.0, 5.0)

_TEMPLE_JOINTS = (
    Joint("temple_0", "revolute", (0.0, 1.0, 0.0),
          lambda p, k: np.array([-_hinge_x(p), 0.0, 0.0]), lambda p, k: FOLD,
          lambda p, k: p["rotation_1"][1], doc="Left temple folds about y at its hinge."),
    Joint("temple_1", "revolute", (0.0, -1.0, 0.0),
          lambda p, k: np.array([_hinge_x(p), 0.0, 0.0]), lambda p, k: FOLD,
          lambda p, k: p["rotation_1"][1], doc="Right temple folds about y (mirrored)."),
)


def _leg_params(trifold: bool) -> list:
    params = [
        length("glass_interval", 1, 0.08, 0.16, "frame width the hinges are set out from"),
        length("size1", 3, (0.001, 0.0015, 0.07), (0.006, 0.01, 0.13),
               "temple arm thickness (x), height (y), length back from the hinge (z)"),
        length("size2", 3, (0.001, 0.0012, 0.015), (0.007, 0.012, 0.06),
               "ear tip thickness (x), height (y), length (z)"),
        angle("rotation_1", 2, (-20.0, FOLD[0]), (20.0, FOLD[1]),
              "whole temple: droop about x (positive down), fold about y at the hinge "
              "(0 open, -90 folded; mirrored per side)"),
        angle("rotation_2", 2, (-10.0, -20.0), (70.0, 30.0),
              "ear tip against the arm: bend about x (positive down), turn about y "
              "(positive inwards)"),
    ]
    if trifold:
        params.append(length("connector_size", 3, (0.002, 0.002, 0.003), (0.012, 0.014, 0.016),
                             "hinge end piece width (x), height (y), length to the front (z)"))
    params.append(length("offset_x", 1, 0.0, 0.01, "outward x offset of each temple (or end "
                                                   "piece) from glass_interval / 2"))
    return params


REGULAR_LEG = template(
    "Regular_Leg", "leg",
    "Two temples, each an arm and a bent ear tip, hinged at x = ±(glass_interval/2 + offset_x).",
    _leg_params(False), _regular_leg, joints=_TEMPLE_JOINTS)

TRIFOLD_LEG = template(
    "Trifold_Leg", "leg",
    "Two temples hinged on end pieces that stick out from the frame's outer corners.",
    _leg_params(True), _trifold_leg, joints=_TEMPLE_JOINTS)

# --- bridge and nose pads ---------------------------------------------------------------------


def _standard_connector(p) -> list[Part]:
    x, y, z = p["size"]
    return [Part("connector", *g.box((x, y, z), (0.0, 0.0, -z / 2)))]


def _dual_connector(p) -> list[Part]:
    bars = [g.box(p[f"size_{k}"], p[f"offset_{k}"] - [0.0, 0.0, p[f"size_{k}"][2] / 2])
            for k in (1, 2)]
    return [Part("connector", *g.concat(bars))]


STANDARD_CONNECTOR = template(
    "Standard_Connector", "connector",
    "Bridge: one bar between the lenses, its front face on z = 0.",
    [length("size", 3, (0.003, 0.0012, 0.001), (0.04, 0.008, 0.008),
            "bar width (x), height (y), depth back from the front face (z)")],
    _standard_connector)

DUAL_CONNECTOR = template(
    "Dual_Connector", "connector", "Double bridge: an upper and a lower bar between the lenses.",
    [length("size_1", 3, (0.003, 0.0012, 0.001), (0.06, 0.008, 0.008),
            "upper bar width (x), height (y), depth (z)"),
     length("offset_1", 3, (-0.01, -0.03, -0.02), (0.01, 0.03, 0.03),
            "upper bar centre x, y and the z of its front face"),
     length("size_2", 3, (0.003, 0.0012, 0.001), (0.06, 0.008, 0.008),
            "lower bar width (x), height (y), depth (z)"),
     length("offset_2", 3, (-0.01, -0.03, -0.02), (0.01, 0.03, 0.03),
            "lower bar centre x, y and the z of its front face")],
    _dual_connector)


def _pad(p) -> g.Mesh:
    """The right nose pad at the origin, turned by support_rotation."""
    return g.place(g.box(p["size"]), rotation=p["support_rotation"])


def _standard_support(p) -> list[Part]:
    right = g.place(_pad(p), (p["offset_x"][0], 0.0, 0.0))
    return [Part("support", *g.concat([right, g.mirror_x(right)]))]


STANDARD_SUPPORT = template(
    "Standard_Support", "support", "Two nose pads behind the lenses, mirrored about x = 0.",
    [length("size", 3, (0.003, 0.004, 0.0006), (0.016, 0.02, 0.004),
            "pad length (x), height (y), thickness (z) before turning"),
     length("offset_x", 1, 0.0, 0.025, "x of each pad's centre (mirrored for the left)"),
     angle("support_rotation", 3, (-60.0, -10.0, -30.0), (30.0, 80.0, 30.0),
           "pad turn about x, y, z (y and z mirrored for the left pad)")],
    _standard_support)

# --- category ---------------------------------------------------------------------------------


def _crossing(outline: np.ndarray, y: float, outermost: bool) -> np.ndarray:
    """The point of a placed convex outline at height ``y`` with the largest (or smallest) x."""
    y = float(np.clip(y, outline[:, 1].min() + 1e-5, outline[:, 1].max() - 1e-5))
    a, b = outline, np.roll(outline, -1, axis=0)
    dy = b[:, 1] - a[:, 1]
    t = np.divide(y - a[:, 1], dy, out=np.full(len(a), -1.0), where=np.abs(dy) > 1e-12)
    points = (a + t[:, None] * (b - a))[(t >= 0.0) & (t <= 1.0)]
    return points[np.argmax(points[:, 0]) if outermost else np.argmin(points[:, 0])]


def _back_z(back: np.ndarray, x: float, y: float) -> float:
    """z of the (planar) lens back face at (x, y)."""
    normal = np.cross(back[1] - back[0], back[len(back) // 2] - back[0])
    return float(back[0, 2] - (normal[0] * (x - back[0, 0]) + normal[1] * (y - back[0, 1]))
                 / normal[2])


def _shape_glasses(glass: SampledInstance, bridged: bool, rng: np.random.Generator) -> None:
    """Lens shape, wrap and tilt; the overall scale is set afterwards by :func:`_fit_width`."""
    glass.set("interval", [rng.uniform(0.014, 0.022) if bridged else rng.uniform(0.0, 0.002)])
    wrap = -rng.uniform(4.0, 12.0) if rng.random() < 0.1 else rng.uniform(0.0, 15.0)
    glass.set("glass_rotation", [wrap, rng.uniform(-4.0, 10.0)])
    framed = "width" in glass.params
    depth = rng.uniform(0.0025, 0.0055) if framed else rng.uniform(0.0018, 0.0035)
    lens = 0.05  # one lens's width, rescaled later
    if "top_offset" in glass.params:
        offset = 0.0 if rng.random() < 0.5 else lens * rng.uniform(0.02, 0.06)
        top = lens - offset
        glass.set("size", [top, top * rng.uniform(0.68, 0.98), top * rng.uniform(0.55, 0.85),
                           depth])
        glass.set("top_offset", [offset])
        if framed:
            glass.set("width", [rng.uniform(0.0018, 0.005)])
    else:
        glass.set("size", [lens / 2, lens / 2 * rng.uniform(0.72, 1.0), depth])
        if framed:
            glass.set("width", [rng.uniform(0.0012, 0.004)])


def _fit_width(glass: SampledInstance, half_width: float) -> None:
    """Scale the lens outline so that its outermost point lies at x = ``half_width``; the
    placement is linear in the scale."""
    edge = lens_back(glass.params)[:, 0].max()
    inner = glass["interval"][0] / 2
    scale = (half_width - inner) / (edge - inner)
    size = glass["size"].copy()
    size[:-1] *= scale  # every length but the thickness
    glass.set("size", size)
    if "top_offset" in glass.params:
        glass.set("top_offset", glass["top_offset"] * scale)
    if "width" in glass.params:
        glass.set("width", glass["width"])  # narrowed again by its constraint on the size


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    glass, leg = parts["glass"][0], parts["leg"][0]
    bridges = parts["connector"]

    # Temples first: what sticks out beyond the lenses counts towards the frame width.
    s0 = rng.uniform(0.0015, 0.0045)
    s1 = float(np.clip(s0 * rng.uniform(1.2, 3.0), 0.0025, 0.008))
    total = rng.uniform(0.13, 0.15)
    tip = total * rng.uniform(0.2, 0.32)
    leg.set("size1", [s0, s1, total - tip])
    leg.set("size2", [s0 * rng.uniform(0.8, 1.2), s1 * rng.uniform(0.6, 1.15), tip])
    leg.set("rotation_2", [rng.uniform(15.0, 45.0), rng.uniform(-5.0, 12.0)])
    kind = rng.choice(3, p=[0.75, 0.15, 0.1])
    # Mostly open; half-shut only as far as the temples do not yet cross; or folded flat.
    fold = (rng.uniform(-8.0, 3.0), rng.uniform(-25.0, -8.0), rng.uniform(-90.0, -80.0))[kind]
    leg.set("rotation_1", [rng.uniform(0.0, 8.0), fold])
    if leg.template is TRIFOLD_LEG:
        leg.set("connector_size", [s0 * rng.uniform(1.4, 2.2), s1 * rng.uniform(1.0, 1.3),
                                   rng.uniform(0.006, 0.012)])
        leg.set("offset_x", [0.0])
        outside = leg["connector_size"][0]
    else:
        outside = leg.set("offset_x", [s0 * rng.uniform(0.3, 0.6)])[0]

    # Lenses sized so that the frame is 12.5–14.5 cm wide.
    _shape_glasses(glass, bool(bridges), rng)
    _fit_width(glass, rng.uniform(0.125, 0.145) / 2 - outside)
    back = lens_back(glass.params)
    height = np.ptp(back[:, 1])
    depth = glass["size"][-1]
    rim = glass["width"][0] if "width" in glass.params else 0.003  # how far a bar may reach in

    # Temples hinged at the frame's outer edge: near the widest point of a round lens, in the
    # upper part of a trapezoidal one (whose top corners stick out furthest).
    hinge_y = height * (rng.uniform(0.15, 0.38) if "top_offset" in glass.params
                        else rng.uniform(0.0, 0.15))
    edge = _crossing(back, hinge_y, outermost=True)
    if leg.template is TRIFOLD_LEG:
        leg.set("glass_interval", [2 * (edge[0] - min(0.0005, rim / 3))])
        hinge_z = edge[2] + depth * rng.uniform(0.3, 0.8) - leg["connector_size"][2]
    else:
        leg.set("glass_interval", [2 * edge[0]])
        hinge_z = edge[2]
    leg.set("position", [0.0, hinge_y, hinge_z])

    # Bridge bars reach from rim to rim, their front flush with the lenses' front.
    for bridge in bridges:
        if bridge.template is STANDARD_CONNECTOR:
            rows = [rng.uniform(0.05, 0.3) * height]
        else:
            rows = [rng.uniform(0.3, 0.42) * height, rng.uniform(-0.1, 0.15) * height]
        bars = []
        for y in rows:
            inner = _crossing(back, y, outermost=False)
            span = 2 * (inner[0] + rim * rng.uniform(0.4, 0.7))
            bars.append((span, rng.uniform(0.002, 0.0045), depth * rng.uniform(0.8, 1.1),
                         y, inner[2] + depth))
        if bridge.template is STANDARD_CONNECTOR:
            span, bar_h, bar_d, y, z = bars[0]
            bridge.set("size", [span, bar_h, bar_d])
            bridge.set("position", [0.0, y, z])
        else:
            for k, (span, bar_h, bar_d, y, z) in enumerate(bars, start=1):
                bridge.set(f"size_{k}", [span, bar_h * 0.8, bar_d])
                bridge.set(f"offset_{k}", [0.0, y, z])

    # Nose pads: just behind the lower inner corner of each lens, touching its back.
    for support in parts["support"]:
        y = rng.uniform(-0.3, -0.05) * height
        inner = _crossing(back, y, outermost=False)
        x = inner[0] + rim * rng.uniform(0.2, 0.6)
        support.set("size", [rng.uniform(0.006, 0.012), rng.uniform(0.008, 0.015),
                             rng.uniform(0.001, 0.0025)])
        support.set("support_rotation", [rng.uniform(-38.0, -20.0), rng.uniform(35.0, 60.0),
                                         rng.uniform(0.0, 8.0)])
        support.set("offset_x", [x])
        front = _pad(support.params)[0][:, 2].max()
        support.set("position", [0.0, y, _back_z(back, x, y) - front + 0.0003])


CATEGORY = Category(
    "Eyeglasses",
    "Eyeglasses: lenses or rims, two folding temples, optional bridge and nose pads.",
    (Slot("glass", GLASSES),
     Slot("leg", (REGULAR_LEG, TRIFOLD_LEG)),
     Slot("connector", (STANDARD_CONNECTOR, DUAL_CONNECTOR), min_count=0),
     Slot("support", (STANDARD_SUPPORT,), min_count=0)),
    _assemble, removal_rate=0.25)
