"""Executed gene → URDF folder: ``object.urdf`` plus one binary STL per link under ``meshes/``.

The URDF describes the object in its own frame (the gene's global pose is where the object sits
relative to the camera, which the node publishes separately). It loads in yourdfpy, pybullet and
MuJoCo; the ``<mujoco>`` block tells MuJoCo's URDF importer where the meshes are and to keep
every link as a body.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from .execute import ExecutedGene, JointSpec, Link
from .geometry import euler_from_matrix

#: Density used for inertial properties (kg/m³, roughly plastic/wood); only plausibility matters.
DENSITY = 500.0
#: The URDF's root link: the object frame.
BASE_LINK = "base_link"
#: Revolute joints: effort (N·m) and velocity (rad/s) limits URDF requires; nominal values.
EFFORT, VELOCITY = 10.0, 1.0


def write_urdf(executed: ExecutedGene, out_dir: str | Path, name: str = "object") -> Path:
    """Write ``out_dir/object.urdf`` and ``out_dir/meshes/<link>.stl``; return the URDF path.

    Mesh paths are relative and stay inside ``out_dir``.
    """
    out_dir = Path(out_dir)
    mesh_dir = out_dir / "meshes"
    mesh_dir.mkdir(parents=True, exist_ok=True)
    lines = ['<?xml version="1.0"?>', f"<robot name={quoteattr(name)}>",
             '  <mujoco><compiler strippath="false" fusestatic="false" discardvisual="true" '
             'balanceinertia="true"/></mujoco>',
             # The object frame (z up, x front); the root instance hangs off it by a fixed joint.
             f'  <link name="{BASE_LINK}">',
             '    <inertial><mass value="0.001"/>'
             '<inertia ixx="1e-6" ixy="0" ixz="0" iyy="1e-6" iyz="0" izz="1e-6"/></inertial>',
             "  </link>"]
    for link in executed.links:
        mesh_file = f"{link.name}.stl"
        write_stl(mesh_dir / mesh_file, link.vertices, link.faces)
        lines.extend(_link_xml(link, f"meshes/{mesh_file}"))
    root = executed.links[0]
    base = JointSpec(f"{root.name}_joint", "fixed", BASE_LINK, root.name, root.frame, np.zeros(3))
    for joint in [base, *executed.joints]:
        xyz = " ".join(f"{v:.9g}" for v in joint.origin[:3, 3])
        rpy = " ".join(f"{v:.9g}" for v in np.radians(euler_from_matrix(joint.origin[:3, :3])))
        lines.append(f'  <joint name="{joint.name}" type="{joint.type}">')
        lines.append(f'    <parent link="{joint.parent}"/>')
        lines.append(f'    <child link="{joint.child}"/>')
        lines.append(f'    <origin xyz="{xyz}" rpy="{rpy}"/>')
        if joint.type != "fixed":
            lines.append('    <axis xyz="{:.9g} {:.9g} {:.9g}"/>'.format(*joint.axis))
            lines.append(f'    <limit lower="{joint.lower:.9g}" upper="{joint.upper:.9g}" '
                         f'effort="{EFFORT}" velocity="{VELOCITY}"/>')
        lines.append("  </joint>")
    lines.append("</robot>")
    path = out_dir / f"{name}.urdf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _link_xml(link: Link, mesh_path: str) -> list[str]:
    lo, hi = link.vertices.min(axis=0), link.vertices.max(axis=0)
    extent = np.maximum(hi - lo, 1e-4)
    # Mass of the bounding box at DENSITY times a fill factor, inertia of that box: cheap, always
    # positive definite, and close enough for simulators to behave.
    mass = max(DENSITY * float(np.prod(extent)) * 0.3, 1e-3)
    ixx, iyy, izz = mass / 12.0 * (extent[[1, 0, 0]] ** 2 + extent[[2, 2, 1]] ** 2)
    center = " ".join(f"{v:.9g}" for v in (lo + hi) / 2)
    geometry = f'<geometry><mesh filename="{mesh_path}"/></geometry>'
    return [f'  <link name="{link.name}">',
            "    <inertial>",
            f'      <origin xyz="{center}" rpy="0 0 0"/>',
            f'      <mass value="{mass:.9g}"/>',
            f'      <inertia ixx="{ixx:.9g}" ixy="0" ixz="0" iyy="{iyy:.9g}" iyz="0" '
            f'izz="{izz:.9g}"/>',
            "    </inertial>",
            f"    <visual>{geometry}</visual>",
            f"    <collision>{geometry}</collision>",
            "  </link>"]


def write_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Binary STL in one vectorised write (trimesh's exporter recomputes normals per call)."""
    triangles = vertices[faces].astype(np.float32)
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, norms, out=np.zeros_like(normals), where=norms > 0)
    record = np.zeros(len(faces), dtype=[("normal", "<f4", 3), ("triangles", "<f4", (3, 3)),
                                          ("attr", "<u2")])
    record["normal"] = normals
    record["triangles"] = triangles
    header = np.zeros(80, dtype=np.uint8)
    with open(path, "wb") as handle:
        handle.write(header.tobytes())
        handle.write(np.uint32(len(faces)).tobytes())
        handle.write(record.tobytes())
