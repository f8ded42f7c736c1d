"""Mesh primitives, rotation conventions, executor frames and exports."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from gene_perception import geometry as g
from gene_perception.execute import PALETTE, execute
from gene_perception.registry import GENE_TO_OBJECT
from gene_perception.sample import sample_gene

PRIMITIVES = {
    "box": lambda: g.box([0.1, 0.2, 0.3], [0.0, 0.1, 0.0]),
    "beam": lambda: g.beam([0, 0, 0], [0.1, 0.3, -0.2], 0.02, 0.01),
    "cylinder": lambda: g.cylinder(0.1, 0.05, 0.2),
    "cup": lambda: g.cup(0.05, 0.06, 0.1, 0.04, 0.055, 0.09),
    "tube": lambda: g.tube(0.05, 0.05, 0.045, 0.045, 0.1),
    "square_lathe": lambda: g.lathe([0.0, 0.1, 0.1, 0.0], [0.0, 0.0, 0.1, 0.1], 4, 45.0),
    "sweep": lambda: g.sweep(g.arc_path(0.05, 0.0, 200.0), 0.005),
    "extrude_cw": lambda: g.extrude([[0, 0], [0, 1], [1, 1], [1, 0]], 0.2),
    "extrude_ccw": lambda: g.extrude([[0, 0], [1, 0], [1, 1], [0, 1]], 0.2),
    "band": lambda: g.band(g.arc_path(0.1, 0.0, 180.0)[:, 1:], 0.01, 0.02),
    "loft_capped": lambda: g.loft([[[0, 0, 0], [1, 0, 0], [1, 0, 1]], [[0, 1, 0], [1, 1, 0],
                                                                       [1, 1, 1]]]),
    "loft_reversed": lambda: g.loft([[[0, 0, 0], [1, 0, 1], [1, 0, 0]], [[0, 1, 0], [1, 1, 1],
                                                                         [1, 1, 0]]]),
    "loft_loop": lambda: g.loft(np.stack([g.lathe([0.1, 0.2, 0.2, 0.1], [0, 0, 0.1, 0.1], 4)[0]
                                          .reshape(4, 4, 3)[:, k] for k in range(4)], 0), loop=True),
    "mirror": lambda: g.mirror_x(g.cup(0.05, 0.06, 0.1, 0.04, 0.055, 0.09)),
}


@pytest.mark.parametrize("name", PRIMITIVES)
def test_primitives_are_closed_and_outward(name):
    vertices, faces = PRIMITIVES[name]()
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0
    assert mesh.area_faces.min() > 0


def test_cylinder_volume_matches_formula():
    vertices, faces = g.cylinder(0.1, 0.1, 0.2, segments=256)
    assert trimesh.Trimesh(vertices, faces).volume == pytest.approx(np.pi * 0.01 * 0.2, rel=1e-3)


def test_lathe_axis_is_y():
    vertices, _ = g.cylinder(0.1, 0.1, 0.5)
    assert np.ptp(vertices[:, 1]) == pytest.approx(0.5)
    assert np.ptp(vertices[:, 0]) == pytest.approx(0.2, rel=0.01)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-180, 180), min_size=3, max_size=3))
def test_rotation_is_euler_x_then_y_then_z_and_invertible(angles):
    matrix = g.rotation_matrix(angles)
    assert np.allclose(matrix, Rotation.from_euler("xyz", angles, degrees=True).as_matrix())
    assert np.allclose(g.rotation_matrix(g.euler_from_matrix(matrix)), matrix, atol=1e-9)


def test_gene_frame_to_object_frame_is_a_proper_rotation():
    rotation = GENE_TO_OBJECT[:3, :3]
    assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.linalg.det(rotation) == 1
    assert np.allclose(rotation @ [0, 1, 0], [0, 0, 1])  # gene up (y) → object up (z)
    assert np.allclose(rotation @ [0, 0, 1], [1, 0, 0])  # gene front (z) → object front (x)


def test_global_pose_moves_the_whole_scene():
    gene = sample_gene("Mug", np.random.default_rng(0))
    canonical = execute(gene).mesh(global_pose=False)
    gene.global_position = np.array([0.3, -0.2, 0.5])
    gene.global_rotation = np.array([10.0, -40.0, 95.0])
    posed = execute(gene).mesh()
    expected = canonical.vertices @ g.rotation_matrix(gene.global_rotation).T + [0.3, -0.2, 0.5]
    assert np.allclose(posed.vertices, expected)
    scene_mesh = execute(gene).scene().to_mesh()
    assert np.allclose(np.sort(scene_mesh.vertices, axis=0), np.sort(expected, axis=0))


def test_object_frame_is_z_up():
    gene = sample_gene("Mug", np.random.default_rng(1))
    body = execute(gene).links[0]
    world = g.transform(body.vertices, body.frame)
    extent = np.ptp(world, axis=0)
    height = gene.instances[0].parameters.get("outer_size", [0, 0, extent[2]])[2]
    assert extent[2] == pytest.approx(height, rel=1e-6)


def test_each_instance_has_its_own_named_node_and_colour(tmp_path):
    gene = sample_gene("Mug", np.random.default_rng(3))
    executed = execute(gene)
    scene = executed.scene()
    for i, inst in enumerate(gene.instances):
        nodes = [n for n in scene.graph.nodes_geometry if n.startswith(f"{i:02d}_{inst.template}")]
        assert nodes, f"no node for instance {i}"
        colours = scene.geometry[nodes[0]].visual.face_colors
        assert (colours == PALETTE[i]).all()
    scene.export(tmp_path / "m.glb")
    loaded = trimesh.load(tmp_path / "m.glb")
    assert len(loaded.geometry) == len(executed.links)
