"""Gene parsing and validation: each broken rule raises its typed error naming the JSON path."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gene_perception import errors
from gene_perception.execute import execute
from gene_perception.gene import from_json, loads
from gene_perception.registry import CATEGORIES, parameter_table
from gene_perception.sample import sample_gene


@pytest.fixture
def mug() -> dict:
    gene = sample_gene("Mug", np.random.default_rng(7))
    return gene.to_json()


def _raises(obj, error_type, path):
    with pytest.raises(error_type) as info:
        from_json(obj)
    assert info.value.path == path, info.value
    assert path in str(info.value) and info.value.rule in str(info.value)
    return info.value


def test_spec_example_shape_is_accepted(mug):
    text = json.dumps(mug)
    gene = loads(text)
    assert set(json.loads(gene.dumps())) == {"category", "pose", "conceptualization"}
    assert set(mug["pose"]) == {"global_position", "global_rotation"}
    for item in gene.to_json()["conceptualization"]:
        assert set(item) == {"template", "parameters"}
        assert all(isinstance(v, list) for v in item["parameters"].values())


def test_unknown_category(mug):
    mug["category"] = "Spaceship"
    _raises(mug, errors.UnknownCategory, "$.category")


def test_unknown_template(mug):
    mug["conceptualization"][1]["template"] = "Warp_Drive"
    _raises(mug, errors.UnknownTemplate, "$.conceptualization[1].template")


def test_template_of_another_category_is_not_allowed(mug):
    other = next(t for c in CATEGORIES.values() if c.name != "Mug"
                 for t in c.templates if t not in CATEGORIES["Mug"].templates)
    mug["conceptualization"][1]["template"] = other
    _raises(mug, errors.TemplateNotAllowed, "$.conceptualization[1].template")


def test_missing_required_slot(mug):
    mug["conceptualization"] = [i for i in mug["conceptualization"]
                                if i["template"] not in ("Curved_Handle", "Trifold_Handle")]
    error = _raises(mug, errors.MissingRequiredSlot, "$.conceptualization")
    assert "handle" in str(error)


def test_too_many_instances(mug):
    mug["conceptualization"].append(copy.deepcopy(mug["conceptualization"][0]))
    _raises(mug, errors.TooManyInstances, f"$.conceptualization[{len(mug['conceptualization']) - 1}]"
                                          ".template")


def test_wrong_vector_length(mug):
    params = mug["conceptualization"][1]["parameters"]
    name = next(n for n in params if n not in ("position", "rotation"))
    params[name] = params[name] + [0.01]
    _raises(mug, errors.WrongVectorLength, f"$.conceptualization[1].parameters.{name}")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 10**400])
def test_non_finite(mug, bad):
    mug["conceptualization"][0]["parameters"]["position"][2] = bad
    _raises(mug, errors.NonFiniteValue, "$.conceptualization[0].parameters.position[2]")


def test_non_finite_in_json_text(mug):
    text = json.dumps(mug).replace('"global_position": [0.0', '"global_position": [NaN', 1)
    with pytest.raises(errors.NonFiniteValue) as info:
        loads(text)
    assert info.value.path == "$.pose.global_position[0]"


def test_out_of_range(mug):
    mug["conceptualization"][0]["parameters"]["rotation"][1] = 181.0
    error = _raises(mug, errors.OutOfRange, "$.conceptualization[0].parameters.rotation[1]")
    assert "[-180, 180]" in str(error)


def test_discrete_must_be_integer():
    gene = None
    for seed in range(50):
        gene = sample_gene("Mug", np.random.default_rng(seed)).to_json()
        if gene["conceptualization"][0]["template"] == "Multilevel_Body":
            break
    gene["conceptualization"][0]["parameters"]["num_levels"] = [2.5]
    _raises(gene, errors.NotInteger, "$.conceptualization[0].parameters.num_levels[0]")


def test_missing_and_unknown_parameter(mug):
    broken = copy.deepcopy(mug)
    del broken["conceptualization"][0]["parameters"]["rotation"]
    _raises(broken, errors.MissingParameter, "$.conceptualization[0].parameters.rotation")
    mug["conceptualization"][0]["parameters"]["colour"] = [1.0]
    _raises(mug, errors.UnknownParameter, "$.conceptualization[0].parameters.colour")


def test_constraint_violation_names_the_component():
    gene = None
    for seed in range(50):
        gene = sample_gene("Mug", np.random.default_rng(seed)).to_json()
        if gene["conceptualization"][0]["template"] == "Cylindrical_Body":
            break
    params = gene["conceptualization"][0]["parameters"]
    params["inner_size"][0] = params["outer_size"][0]  # a wall of zero thickness
    _raises(gene, errors.ConstraintViolated, "$.conceptualization[0].parameters.inner_size[0]")


@pytest.mark.parametrize("mutate, path", [
    (lambda g: g.pop("pose"), "$"),
    (lambda g: g.update(extra=1), "$"),
    (lambda g: g.update(conceptualization={}), "$.conceptualization"),
    (lambda g: g["conceptualization"].__setitem__(0, "Cylindrical_Body"), "$.conceptualization[0]"),
    (lambda g: g["pose"].update(global_position="0 0 0"), "$.pose.global_position"),
    (lambda g: g["pose"]["global_rotation"].__setitem__(0, True), "$.pose.global_rotation[0]"),
    (lambda g: g["pose"]["global_rotation"].__setitem__(0, "1"), "$.pose.global_rotation[0]"),
    (lambda g: g.update(category=3), "$.category"),
])
def test_malformed_structure(mug, mutate, path):
    mutate(mug)
    _raises(mug, errors.MalformedGene, path)


def test_invalid_json_text():
    with pytest.raises(errors.MalformedGene, match="not valid JSON"):
        loads('{"category": "Mug",')


def test_order_free_input_is_normalised_to_slot_order(mug):
    shuffled = copy.deepcopy(mug)
    shuffled["conceptualization"].reverse()
    assert from_json(shuffled) == from_json(mug)


def test_parameter_table_is_derived_from_registry():
    table = parameter_table()
    assert set(table) == set(CATEGORIES)
    for name, category in CATEGORIES.items():
        assert set(table[name]) == set(category.templates)
        for tname, spec in category.templates.items():
            assert table[name][tname] == {p.name: list(p.lengths) for p in spec.params}
            assert list(table[name][tname])[-2:] == ["position", "rotation"]


# --- fuzzing: any mutation of a valid gene either parses or raises a typed GeneError -----------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5),
                                                                       children, max_size=3),
    max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10_000), choice=st.integers(0, 10_000), value=json_values,
       action=st.sampled_from(["replace", "delete", "scale"]))
def test_fuzzed_genes_raise_typed_errors_never_crash(seed, choice, value, action):
    category = sorted(CATEGORIES)[seed % len(CATEGORIES)]
    obj = sample_gene(category, np.random.default_rng(seed)).to_json()
    paths = [p for p in _paths(obj) if p]
    path = paths[choice % len(paths)]
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "replace":
        parent[key] = value
    elif action == "delete":
        del parent[key]
    elif isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = parent[key] * 1000.0 + 1.0
    try:
        gene = from_json(obj)
    except errors.GeneError as exc:
        assert exc.path.startswith("$") and exc.rule
        return
    try:  # a gene that validates is executable, or fails with a typed, located error
        assert len(execute(gene).mesh().faces) > 0
    except errors.ExecutionError as exc:
        assert exc.path.startswith("$.conceptualization[")


def test_packed_parameter_length_follows_its_count():
    """Shampoo's all_sizes holds 3 + 2 (num_of_part - 1) values; the count fixes the length."""
    for seed in range(100):
        gene = sample_gene("Shampoo", np.random.default_rng(seed)).to_json()
        item = gene["conceptualization"][0]
        if item["template"] == "Cylindrical_body":
            break
    params = item["parameters"]
    n = params["num_of_part"][0]
    assert len(params["all_sizes"]) == 3 + 2 * (n - 1)
    params["num_of_part"] = [n + 1 if n < 4 else n - 1]
    error = _raises(gene, errors.WrongVectorLength, "$.conceptualization[0].parameters.all_sizes")
    assert "num_of_part" in str(error)


def test_a_gene_that_would_build_nothing_does_not_validate():
    """Box's Fourfold_Cover declares that one flap must exist: all-zero flags would validate by
    range but execute into an empty mesh, so validation rejects them at that path."""
    for seed in range(200):
        gene = sample_gene("Box", np.random.default_rng(seed)).to_json()
        index = next((i for i, item in enumerate(gene["conceptualization"])
                      if item["template"] == "Fourfold_Cover"), None)
        if index is not None:
            break
    gene["conceptualization"][index]["parameters"]["has_cover"] = [0, 0, 0, 0]
    _raises(gene, errors.ConstraintViolated,
            f"$.conceptualization[{index}].parameters.has_cover")
