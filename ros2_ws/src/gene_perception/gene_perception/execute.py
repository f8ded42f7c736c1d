"""Gene → articulated mesh: links (one per concept instance, plus one per moving sub-part),
joints, and a ``trimesh.Scene`` at the gene's articulation state with the global pose applied."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from . import errors
from .gene import Gene
from .geometry import concat, pose_matrix, transform
from .registry import CATEGORIES, GENE_TO_OBJECT

#: Distinct, colour-blind-friendly RGBA colours per concept instance (Okabe–Ito).
PALETTE = np.array([
    [230, 159, 0, 255], [86, 180, 233, 255], [0, 158, 115, 255], [240, 228, 66, 255],
    [0, 114, 178, 255], [213, 94, 0, 255], [204, 121, 167, 255], [153, 153, 153, 255]],
    dtype=np.uint8)


@dataclass
class Link:
    """A rigid body. ``vertices`` are in the link frame; ``frame`` is the link's pose in the object
    frame with every joint at 0 (closed)."""

    name: str
    instance: int
    template: str
    role: str
    vertices: np.ndarray
    faces: np.ndarray
    frame: np.ndarray

    @property
    def color(self) -> np.ndarray:
        return PALETTE[self.instance % len(PALETTE)]


@dataclass
class JointSpec:
    """A URDF joint. ``origin`` is the child frame in the parent frame at joint value 0. Limits and
    ``value`` are in radians (revolute) or metres (prismatic)."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float = 0.0
    upper: float = 0.0
    value: float = 0.0


@dataclass
class ExecutedGene:
    """The result of executing a gene. ``links[0]`` is the root."""

    gene: Gene
    links: list[Link]
    joints: list[JointSpec]

    @property
    def movable_joints(self) -> list[JointSpec]:
        return [j for j in self.joints if j.type != "fixed"]

    def link_poses(self, values: dict[str, float] | None = None) -> dict[str, np.ndarray]:
        """Forward kinematics in the object frame; joints default to the gene's state."""
        poses = {self.links[0].name: self.links[0].frame}
        for joint in self.joints:  # joints are listed parent-before-child
            value = joint.value if values is None else values.get(joint.name, joint.value)
            poses[joint.child] = poses[joint.parent] @ joint.origin @ _joint_motion(joint, value)
        return poses

    def scene(self, values: dict[str, float] | None = None, global_pose: bool = True
              ) -> trimesh.Scene:
        """One named node per link, posed at the gene's state, in the camera/world frame when
        ``global_pose`` (the gene's 6D pose) is applied."""
        root = pose_matrix(self.gene.global_position, self.gene.global_rotation) if global_pose \
            else np.eye(4)
        poses = self.link_poses(values)
        scene = trimesh.Scene()
        for link in self.links:
            scene.add_geometry(self.link_mesh(link), node_name=link.name, geom_name=link.name,
                               transform=root @ poses[link.name])
        return scene

    def mesh(self, values: dict[str, float] | None = None, global_pose: bool = True
             ) -> trimesh.Trimesh:
        """All links joined into one mesh (colours per instance), e.g. for metrics."""
        root = pose_matrix(self.gene.global_position, self.gene.global_rotation) if global_pose \
            else np.eye(4)
        poses = self.link_poses(values)
        vertices, faces, colors, offset = [], [], [], 0
        for link in self.links:
            vertices.append(transform(link.vertices, root @ poses[link.name]))
            faces.append(link.faces + offset)
            colors.append(np.broadcast_to(link.color, (len(link.faces), 4)))
            offset += len(link.vertices)
        return trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces),
                               face_colors=np.concatenate(colors), process=False)

    @staticmethod
    def link_mesh(link: Link) -> trimesh.Trimesh:
        return trimesh.Trimesh(link.vertices, link.faces,
                               face_colors=np.broadcast_to(link.color, (len(link.faces), 4)),
                               process=False)


def _joint_motion(joint: JointSpec, value: float) -> np.ndarray:
    motion = np.eye(4)
    if joint.type == "revolute":
        motion[:3, :3] = _axis_angle(joint.axis, value)
    elif joint.type == "prismatic":
        motion[:3, 3] = joint.axis * value
    return motion


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


def execute(gene: Gene) -> ExecutedGene:
    """Run every concept instance's geometry and assemble links and joints.

    Each instance's fixed parts form one link, mounted by a fixed joint on its parent; each moving
    part forms a link whose joint is the template's, on the instance's fixed link (or on the
    parent when the instance is all moving part, like a door leaf). The parent is the root
    instance, or the instance of the slot named by ``attach_to`` (same index, else the last one);
    there an instance mounts on the first moving link, so a handle on a door rides on the leaf.
    """
    category = CATEGORIES[gene.category]
    links: list[Link] = []
    frames: dict[str, np.ndarray] = {}
    joints: list[JointSpec] = []
    mount: list[str] = []
    by_slot: dict[str, list[int]] = {}
    for i, inst in enumerate(gene.instances):
        spec = inst.concept_template
        slot = category.slot_of(inst.template)
        path = f"$.conceptualization[{i}]"
        try:
            parts = spec.geometry(inst.parameters)
        except (ValueError, ArithmeticError, IndexError) as exc:
            raise errors.ExecutionError(path, f"{inst.template} geometry failed: {exc}") from exc
        if not any(len(part.faces) for part in parts):
            raise errors.ExecutionError(path, f"{inst.template} produced an empty mesh")
        targets = by_slot.get(slot.attach_to, []) if slot.attach_to else []
        siblings = by_slot.setdefault(slot.name, [])
        parent = mount[targets[min(len(siblings), len(targets) - 1)]] if targets \
            else (links[0].name if links else None)
        siblings.append(i)

        name = f"{i:02d}_{inst.template}"
        instance_frame = GENE_TO_OBJECT @ pose_matrix(inst.parameters["position"],
                                                      inst.parameters["rotation"])
        articulated = [(part, *_joint_of(spec.joints, part.name)) for part in parts]
        fixed = [part for part, joint, _ in articulated if joint is None and len(part.faces)]
        if fixed or parent is None:
            vertices, faces = concat([(p.vertices, p.faces) for p in fixed])
            _attach(links, frames, joints,
                    Link(name, i, inst.template, spec.role, vertices, faces, instance_frame),
                    parent, "fixed")
            parent = name
        first_moving = None
        for part, joint, k in articulated:
            if joint is None:
                continue
            origin = np.asarray(joint.origin(inst.parameters, k), float)
            link = Link(f"{name}_{part.name}", i, inst.template, spec.role,
                        part.vertices - origin, part.faces,
                        instance_frame @ pose_matrix(origin, (0.0, 0.0, 0.0)))
            scale = np.pi / 180.0 if joint.type == "revolute" else 1.0
            lower, upper = joint.limits(inst.parameters, k)
            value = float(joint.state(inst.parameters, k)) if joint.state else 0.0
            _attach(links, frames, joints, link, parent, joint.type, np.asarray(joint.axis, float),
                    lower * scale, upper * scale, value * scale)
            first_moving = first_moving or link.name
        mount.append(first_moving or name)
    return ExecutedGene(gene, links, joints)


def _joint_of(joints, part_name: str):
    for joint in joints:
        k = joint.item(part_name)
        if k is not None:
            return joint, k
    return None, 0


def _attach(links: list[Link], frames: dict[str, np.ndarray], joints: list[JointSpec],
            link: Link, parent: str | None, kind: str, axis: np.ndarray = np.zeros(3),
            lower: float = 0.0, upper: float = 0.0, value: float = 0.0) -> None:
    links.append(link)
    frames[link.name] = link.frame
    if parent is not None:
        origin = np.linalg.inv(frames[parent]) @ link.frame
        joints.append(JointSpec(f"{link.name}_joint", kind, parent, link.name, origin, axis,
                                lower, upper, value))
