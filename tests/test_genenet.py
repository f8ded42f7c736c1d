"""GeneNet (the embedded CPU model): collate, loss, constrained parse, save/load, decoding loop."""

import numpy as np
import pytest
import torch
from PIL import Image

from gene_perception.decoding import constrained_decode
from gene_perception.execute import execute
from gene_perception.models import GeneSample, ModelLoadError, load_model
from gene_perception.models.genenet import GeneNet, GeneNetConfig
from gene_perception.models.genenet.processing import (CROP_MARGIN, MIN_CROP, crop_window,
                                                       mask_box, object_box, pixel_array)
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import sample_posed_genes, table_from_genes

from conftest import TINY_GENENET as TINY


@pytest.fixture(scope="module")
def genes():
    return [g for c in CATEGORIES for g in sample_posed_genes(c, 4, 7)]


@pytest.fixture(scope="module")
def model(genes):
    torch.manual_seed(0)
    return GeneNet.create(None, table_from_genes(genes), TINY).eval()


def _images(n, seed=0, size=40):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), np.uint8)) for _ in range(n)]


def test_collate_labels_only_choices(model, genes):
    batch = model.collate([GeneSample(i, g) for i, g in zip(_images(3), genes[::20])])
    labels, allowed = batch["labels"], batch["allowed"]
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    chosen = labels != -100
    # every label is allowed at its position and every labelled position is a real choice
    rows = allowed[chosen]
    assert rows[torch.arange(rows.shape[0]), labels[chosen]].all()
    assert (rows.sum(-1) > 1).all()
    # forced positions (and padding) carry no label, so fewer labels than tokens
    assert chosen.sum() < (batch["input_ids"] != model.tokenizer.ids["<pad>"]).sum()


def test_loss_decreases_on_one_batch(genes):
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), TINY)
    batch = model.collate([GeneSample(i, g) for i, g in zip(_images(4), genes[::16])])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        out = model(**batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = float(out["loss"].detach()) if first is None else first
    assert float(out["loss"]) < 0.7 * first
    assert model.training_flops(batch) > 0


def test_parse_always_valid_and_executable(model):
    results = model.parse(_images(6, seed=1), do_sample=True, seed=3)
    assert len(results) == 6
    for r in results:
        execute(r.gene)
        assert model.grammar.accepts(r.token_ids)
    # jump-forward: the batch needs fewer forward passes than its longest sequence has tokens
    assert results[0].forward_passes < max(len(r.token_ids) for r in results)


def test_batched_decode_equals_single(model):
    images = _images(3, seed=2)
    together = [r.token_ids for r in model.parse(images)]
    alone = [model.parse([im])[0].token_ids for im in images]
    assert together == alone


def test_save_load_round_trip(tmp_path, model):
    images = _images(2, seed=4)
    before = [r.token_ids for r in model.parse(images)]
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert [r.token_ids for r in loaded.parse(images)] == before
    assert loaded.config == model.config


def test_save_from_gathered_state_dict_writes_those_weights(tmp_path, model):
    """Sharded training (FSDP / ZeRO-3) saves the gathered full state dict, not the module's
    own (sharded) parameters."""
    gathered = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v
                for k, v in model.state_dict().items()}
    model.save_pretrained(tmp_path / "m", gathered)
    loaded = load_model(tmp_path / "m")
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, gathered[k])


def test_load_errors_name_the_folder(tmp_path, model):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="genevlm_model.json missing"):
        load_model(tmp_path / "empty")
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        load_model(tmp_path / "m")


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible"):
        GeneNetConfig(image_size=100)
    with pytest.raises(ValueError, match="unknown GeneNet config fields"):
        GeneNetConfig.from_dict({"hidden": 3})


def test_decode_loop_feeds_forced_runs_in_one_pass(model):
    """The engine-agnostic loop with a session that records what it is fed."""
    class Recorder:
        def __init__(self):
            self.calls = []

        def feed(self, tokens):
            self.calls.append(tokens.copy())
            return np.zeros((tokens.shape[0], len(model.tokenizer)), np.float32)

    calls = []
    # a few seeds: whether a multi-token forced run comes up depends on the draws
    for seed in range(4):
        rec = Recorder()
        out = constrained_decode(rec, model.grammar, 2, rng=np.random.default_rng(seed))
        fed = [np.concatenate([c[b] for c in rec.calls]) for b in range(2)]
        assert out.forward_passes == len(rec.calls)
        eos = model.grammar.eos
        for b in range(2):
            seq = out.sequences[b]
            assert model.grammar.accepts(seq)
            # every generated token is fed once, in order, up to the final run (the last choice and
            # the forced <eos>, which need no forward pass); a finished row is fed <eos> filler
            n = len(seq) - 2 if seq[-2] != eos else len(seq) - 1
            assert fed[b][:n].tolist() == seq[:n]
            assert (fed[b][n:] == eos).all() or fed[b][n:].tolist()[:1] == seq[n:n + 1]
        calls += rec.calls
    assert any(c.shape[1] > 1 for c in calls)


# ---- object crop (processing)


def _on_plain(background, box, size=128, colour=(90, 60, 30)):
    """A ``size``² image of ``background`` with a filled rectangle ``box`` (x0, y0, x1, y1)."""
    rgb = np.empty((size, size, 3), np.uint8)
    rgb[:] = background
    x0, y0, x1, y1 = box
    rgb[y0:y1, x0:x1] = colour
    return rgb


@pytest.mark.parametrize("background", [(255, 255, 255), (40, 120, 200)])
def test_object_box_finds_the_object_on_a_plain_background(background):
    assert object_box(_on_plain(background, (70, 20, 81, 35))) == (70, 20, 81, 35)


def test_object_box_declines_busy_and_empty_backgrounds():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    assert object_box(noise) is None
    assert object_box(np.full((64, 64, 3), 255, np.uint8)) is None


def test_object_crop_enlarges_the_object_and_keeps_its_frame_coordinates():
    box = (70, 20, 81, 35)  # 11 × 15 pixels of a 128² frame
    image = Image.fromarray(_on_plain((255, 255, 255), box))
    x = pixel_array([image], 32, object_crop=True)[0]
    assert x.shape == (5, 32, 32)
    # the object now fills most of the crop (it filled 1 % of the frame)
    assert (x[:3].max(0) < 0.5).mean() > 0.4
    # coordinates: the crop's pixel centres in the frame, centred on the box's centre
    u, v = x[3], x[4]
    assert np.allclose(u, u[0]) and np.allclose(v, v[:, :1])  # u along x, v along y
    centre = (np.array([box[0] + box[2], box[1] + box[3]]) / 2) / 128 * 2 - 1
    assert np.allclose([u[0].mean(), v[:, 0].mean()], centre, atol=1e-6)
    side = (u[0, -1] - u[0, 0]) * 32 / 31 / 2 * 128  # the crop's side in frame pixels
    assert side == pytest.approx(15 * CROP_MARGIN + 2, rel=1e-5)


def test_object_crop_without_a_plain_background_is_the_whole_frame():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 64, 3), np.uint8))
    cropped = pixel_array([image], 32, object_crop=True)[0]
    assert np.array_equal(cropped[:3], pixel_array([image], 32)[0])
    grid = (np.arange(32) + 0.5) / 32 * 2 - 1
    assert np.allclose(cropped[3], grid[None, :]) and np.allclose(cropped[4], grid[:, None])


def test_object_crop_window_stays_inside_the_frame_and_has_a_least_size():
    corner = Image.fromarray(_on_plain((255, 255, 255), (0, 0, 2, 2)))
    left, top, side = crop_window(corner)
    assert (left, top) == (0.0, 0.0) and side == pytest.approx(128 * MIN_CROP)
    large = Image.fromarray(_on_plain((255, 255, 255), (1, 1, 127, 127)))
    assert crop_window(large) == (0.0, 0.0, 128.0)


def test_object_crop_model_takes_coordinate_channels(genes):
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), {**TINY, "object_crop": True})
    images = [Image.fromarray(_on_plain((255, 255, 255), (10, 30, 40, 70), size=64))] * 2
    batch = model.collate([GeneSample(i, g) for i, g in zip(images, genes[::40])])
    assert batch["pixel_values"].shape == (2, 5, 32, 32)
    assert torch.isfinite(model(**batch)["loss"])
    for result in model.eval().parse(images):
        execute(result.gene)


def test_crop_follows_a_given_box_where_the_background_is_busy():
    rng = np.random.default_rng(5)
    busy = Image.fromarray(rng.integers(0, 255, (128, 128, 3), np.uint8))
    box = (0.25, 0.5, 0.375, 0.625)  # 16 × 16 pixels, centre (40, 72)
    left, top, side = crop_window(busy, box)
    assert side == pytest.approx(16 * CROP_MARGIN + 2)
    assert (left + side / 2, top + side / 2) == pytest.approx((40.0, 72.0))
    x = pixel_array([busy], 32, object_crop=True, boxes=[box])[0]
    assert np.allclose([x[3, 0].mean(), x[4, :, 0].mean()], [40 / 64 - 1, 72 / 64 - 1])
    # a plain background's own box wins over a given one; no box or an empty one: whole frame
    plain = Image.fromarray(_on_plain((255, 255, 255), (70, 20, 81, 35)))
    assert crop_window(plain, box) == crop_window(plain)
    assert crop_window(busy) == crop_window(busy, (0.5, 0.5, 0.5, 0.7)) == (0.0, 0.0, 128.0)


def test_mask_box_bounds_the_masked_pixels():
    mask = np.zeros((64, 32), np.uint8)
    mask[10:20, 4:9] = 2
    mask[30, 12] = 1
    assert mask_box(mask) == (4 / 32, 10 / 64, 13 / 32, 31 / 64)
    assert mask_box(np.zeros((8, 8), np.uint8)) is None


LOCALISER = {**TINY, "object_crop": True, "localiser": True, "localiser_channels": [8, 16]}


def test_localiser_needs_object_crop():
    with pytest.raises(ValueError, match="object_crop"):
        GeneNetConfig(localiser=True)


def test_localiser_model_collates_frames_and_box_targets(genes):
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), LOCALISER)
    rng = np.random.default_rng(6)
    busy = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)) for _ in range(2)]
    plain = Image.fromarray(_on_plain((255, 255, 255), (8, 4, 16, 20), size=32))
    samples = [GeneSample(busy[0], genes[0], (0.25, 0.25, 0.5, 0.75)),
               GeneSample(busy[1], genes[30]),  # busy, no box: no localiser target
               GeneSample(plain, genes[60])]  # plain: its own box is the target
    batch = model.collate(samples)
    assert batch["frame_pixels"].shape == (3, 3, 32, 32)
    assert np.array_equal(batch["frame_pixels"].numpy(), pixel_array([s.image for s in samples],
                                                                       32))
    boxes = batch["boxes"].numpy()
    assert np.allclose(boxes[0], (0.25, 0.25, 0.5, 0.75))
    assert np.isnan(boxes[1]).all()
    assert np.allclose(boxes[2], (8 / 32, 4 / 32, 16 / 32, 20 / 32))
    # the first crop is cut around its box (coordinates centred on it)
    assert batch["pixel_values"][0, 3].mean() == pytest.approx(2 * 0.375 - 1, abs=1e-6)
    out = model(**batch)
    gene_only = {k: v for k, v in batch.items() if k not in ("frame_pixels", "boxes")}
    model.localiser = None
    plain_out = model(**gene_only)
    assert torch.isclose(out["loss"], plain_out["loss"] + out["localiser_loss"])


def test_localiser_learns_to_find_the_object(genes):
    """Trained alone on squares over noise, the box head's centres land near the squares'."""
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), LOCALISER)
    rng = np.random.default_rng(7)
    images, boxes = [], []
    for _ in range(48):
        rgb = rng.integers(0, 120, (32, 32, 3), np.uint8)
        w = int(rng.integers(5, 12))
        x, y = rng.integers(0, 32 - w, 2)
        rgb[y:y + w, x:x + w] = (250, 250, 40)
        images.append(Image.fromarray(rgb))
        boxes.append((x / 32, y / 32, (x + w) / 32, (y + w) / 32))
    frames = torch.from_numpy(pixel_array(images, 32))
    targets = torch.tensor(boxes, dtype=torch.float32)
    localiser = model.localiser
    opt = torch.optim.AdamW(localiser.parameters(), lr=1e-2)
    for _ in range(150):
        loss = localiser.loss(frames, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    localiser.eval()
    with torch.no_grad():
        found = localiser.boxes(frames)
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    error = (centre(found) - centre(targets)).abs().max(1).values * 32  # pixels
    assert float(error.median()) < 2.0
    # parsing crops around the localiser's boxes and still gives executable genes
    for result in model.eval().parse(images[:2]):
        execute(result.gene)


def test_calibrate_sets_the_localiser_statistics_to_exact_averages(genes):
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), LOCALISER)
    rng = np.random.default_rng(8)
    images = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)) for _ in range(8)]
    frames = torch.from_numpy(pixel_array(images, 32))
    norms = [m for m in model.localiser.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:  # statistics far from the data's, as a lagging running average leaves them
        m.running_mean.fill_(3.0)
        m.running_var.fill_(9.0)
    with torch.no_grad():
        batch_stats = model.localiser.train()(frames)
        stale = model.localiser.eval()(frames)
        model.calibrate([{"frame_pixels": frames[:4]}, {"frame_pixels": frames[4:]}])
        calibrated = model.localiser(frames)
    assert not model.localiser.training and all(m.momentum == 0.1 for m in norms)
    assert not torch.allclose(stale, batch_stats, atol=1e-2)
    # means of two equal halves are the whole's mean; the variances differ only by the halves'
    # spread, so the calibrated eval output is near the whole batch's train-mode output
    first = norms[0]
    expected = torch.nn.functional.conv2d(frames, model.localiser.features[0].weight, stride=2,
                                          padding=1).mean((0, 2, 3))
    assert torch.allclose(first.running_mean, expected, atol=1e-5)
    assert torch.allclose(calibrated, batch_stats, atol=0.25)


def test_choice_weight_weighs_the_structural_choices(genes):
    images = _images(3, seed=2)
    samples = [GeneSample(i, g) for i, g in zip(images, genes[::21])]
    torch.manual_seed(0)
    plain = GeneNet.create(None, table_from_genes(genes), TINY).eval()
    weighted = GeneNet.create(None, table_from_genes(genes), {**TINY, "choice_weight": 5.0}).eval()
    weighted.load_state_dict(plain.state_dict())
    batch = plain.collate(samples)
    with torch.no_grad():
        a, b = plain(**batch), weighted(**batch)
    labels = batch["labels"][batch["labels"] != -100]
    bof, n = plain.tokenizer.bof, plain.tokenizer.table.n
    n_float = int(((labels >= bof) & (labels < bof + n)).sum())
    n_hard = len(labels) - n_float
    assert 0 < n_hard < n_float
    assert torch.isclose(a["choice_loss"], b["choice_loss"])
    expected = (5 * n_hard * a["choice_loss"] + n_float * a["float_loss"]) / (5 * n_hard + n_float)
    assert torch.isclose(b["loss"], expected, rtol=1e-5)
    assert not torch.isclose(a["loss"], b["loss"])
    with pytest.raises(ValueError, match="choice_weight"):
        GeneNetConfig(choice_weight=0.0)
