"""`genevlm train` (accelerate loop), `genevlm parse` and `genevlm eval genes` end to end on a
tiny synthesised dataset: checkpoints, exact resume, stage 2 from stage 1, clear errors."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gene_perception.cli import main
from gene_perception.execute import execute
from gene_perception.gene import load
from gene_perception.models import load_model
from gene_training.dataset import SynthConfig, synthesize_dataset
from gene_training.training_data import GeneImageDataset, ReplayDataset

TINY = ["image_size=32", "channels=[8,16]", "blocks=[0,1]", "hidden_size=32", "num_layers=1",
        "num_heads=2", "num_kv_heads=1", "intermediate_size=64"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for kind in ("white", "color"):
        synthesize_dataset(SynthConfig(("Mug", "Knife"), genes=16, poses=1, kind=kind, size=32,
                                       shard_size=8, fractions=(0.6, 0.2, 0.2)),
                           root / kind, progress=False)
    return root


def _train(data, out, *extra):
    args = ["train", "--stage", "white", "--data", str(data / "white"), "--out", str(out),
            "--max-steps", "4", "--batch-size", "4", "--warmup-steps", "1", "--log-every", "1",
            "--eval-every", "2", "--save-every", "2", "--val-samples", "4", "--workers", "0",
            "--no-progress"]
    for option in TINY:
        args += ["--model-option", option]
    return main(args + list(extra))


def test_train_writes_model_checkpoints_and_metrics(data, tmp_path):
    assert _train(data, tmp_path / "run") == 0
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000002",
                                                                        "step-0000004"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_lines = [m for m in lines if m["split"] == "train"]
    assert [m["step"] for m in train_lines] == [1, 2, 3, 4]
    flops = [m["flops"] for m in train_lines]
    assert all(b > a > 0 for a, b in zip(flops, flops[1:]))
    assert {m["step"] for m in lines if m["split"] == "val"} == {2, 4}
    assert any((run / "tensorboard").iterdir())
    model = load_model(run)  # the run folder resolves to run/model
    assert model.config.hidden_size == 32
    state = json.loads((run / "checkpoints" / "step-0000002" / "trainer_state.json").read_text())
    assert state["step"] == 2 and state["counters"]["samples"] == 8


def test_interrupted_run_resumes_to_identical_weights(data, tmp_path, capsys):
    assert _train(data, tmp_path / "straight") == 0
    # a zero time budget stops after the first step with a checkpoint, like a killed run
    capsys.readouterr()
    assert _train(data, tmp_path / "cut", "--time-budget-min", "0") == 0
    assert not (tmp_path / "cut" / "model").exists()
    assert "no final model yet" in capsys.readouterr().out
    assert _train(data, tmp_path / "cut") == 0
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rerun_with_other_settings_is_refused(data, tmp_path, capsys):
    assert _train(data, tmp_path / "run") == 0
    assert _train(data, tmp_path / "run", "--lr", "0.5") == 2
    assert "different settings (lr)" in capsys.readouterr().err


def test_stage_two_continues_from_stage_one(data, tmp_path, capsys):
    assert _train(data, tmp_path / "s1") == 0
    args = ["train", "--stage", "color", "--data", str(data / "color"), "--out",
            str(tmp_path / "s2"), "--base", str(tmp_path / "s1"), "--max-steps", "2",
            "--batch-size", "4", "--warmup-steps", "1", "--workers", "0", "--no-progress",
            "--val-samples", "4"]
    assert main(args) == 0
    s1, s2 = load_model(tmp_path / "s1"), load_model(tmp_path / "s2")
    assert s1.tokenizer.table.keys == s2.tokenizer.table.keys
    assert not torch.equal(s1.decoder.embed_tokens.weight, s2.decoder.embed_tokens.weight)
    # stage colour needs a base, and white data is refused for it
    bad = ["train", "--stage", "color", "--data", str(data / "white"), "--out",
           str(tmp_path / "s3"), "--base", str(tmp_path / "s1"), "--workers", "0"]
    assert main(bad) == 2
    assert "holds white images" in capsys.readouterr().err
    assert main(bad[:7] + ["--workers", "0"]) == 2
    assert "--base" in capsys.readouterr().err


def test_replay_mixes_an_earlier_stages_samples_evenly(data):
    colour = GeneImageDataset(data / "color", "train")
    white = GeneImageDataset(data / "white", "train")
    assert ReplayDataset(colour, None).replay_indices.size == 0
    half = ReplayDataset(colour, white, 0.5)  # one replayed sample per colour sample
    assert len(half) == 2 * len(colour)
    assert [half[i].image.tobytes() for i in range(len(colour))] == \
        [colour[i].image.tobytes() for i in range(len(colour))]
    replayed = half.replay_indices
    assert len(set(replayed.tolist())) == len(colour) and replayed.max() < len(white)
    for k, j in enumerate(replayed.tolist()):
        assert half[len(colour) + k].image.tobytes() == white[j].image.tobytes()
    # spread over the whole replay dataset, not its first rows
    assert replayed.max() >= len(white) - len(white) // len(colour) - 1
    # more replayed samples than the replay dataset holds: each is used in turn
    many = ReplayDataset(white, colour, 0.75)
    assert sorted(set(many.replay_indices.tolist())) == list(range(len(colour)))
    counts = np.bincount(many.replay_indices, minlength=len(colour))
    assert counts.max() - counts.min() <= 1
    for ratio, replay, message in ((1.0, white, "--replay-ratio must be in"),
                                   (0.2, None, "needs --replay")):
        with pytest.raises(ValueError, match=message):
            ReplayDataset(colour, replay, ratio)


def test_stage_two_replays_stage_one_data(data, tmp_path, capsys):
    assert _train(data, tmp_path / "s1") == 0
    args = ["train", "--stage", "color", "--data", str(data / "color"), "--out",
            str(tmp_path / "s2"), "--base", str(tmp_path / "s1"), "--max-steps", "2",
            "--batch-size", "4", "--warmup-steps", "1", "--workers", "0", "--no-progress",
            "--val-samples", "4", "--replay", str(data / "white")]
    assert main(args + ["--replay-ratio", "1.5"]) == 2
    assert "--replay-ratio must be in [0, 1)" in capsys.readouterr().err
    assert main(args + ["--replay-ratio", "0.5"]) == 0
    config = json.loads((tmp_path / "s2" / "train_config.json").read_text())
    assert config["replay"] == str((data / "white").resolve())
    assert config["replay_ratio"] == 0.5
    # the same run with another replay share is another run
    assert main(args + ["--replay-ratio", "0.25"]) == 2
    assert "different settings (replay_ratio)" in capsys.readouterr().err


def test_genenet_rejects_general_sft_data(data, tmp_path, capsys):
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"},
                                                 {"from": "gpt", "value": "hello"}]}) + "\n")
    assert _train(data, tmp_path / "run", "--general-sft", str(sft), "--sft-ratio", "0.5") == 2
    assert "Qwen2.5-VL" in capsys.readouterr().err


def test_parse_and_eval_genes_end_to_end(data, tmp_path, capsys):
    assert _train(data, tmp_path / "run") == 0
    from PIL import Image

    img = tmp_path / "imgs"
    img.mkdir()
    Image.new("RGB", (50, 40), (200, 30, 30)).save(img / "a.png")
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(img / "b.png")
    out = tmp_path / "parsed"
    assert main(["parse", str(img), "--model", str(tmp_path / "run"), "--out", str(out)]) == 0
    for name in ("a", "b"):
        folder = out / name
        assert {"gene.json", "mesh.glb", "object.urdf", "preview.png", "parse.json"} <= \
            {p.name for p in folder.iterdir()}
        execute(load(folder / "gene.json"))
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["parse", str(img / "broken.png"), "--model", str(tmp_path / "run"),
                 "--out", str(out)]) == 2
    assert "broken.png: unreadable image" in capsys.readouterr().err
    assert main(["parse", str(img / "a.png"), "--model", str(tmp_path / "nope"),
                 "--out", str(out)]) == 2
    assert "nope: model folder does not exist" in capsys.readouterr().err

    ev = tmp_path / "eval"
    assert main(["eval", "genes", "--data", str(data / "white"), "--model", str(tmp_path / "run"),
                 "--out", str(ev), "--per-category", "2"]) == 0
    result = json.loads((ev / "eval_genes.json").read_text())
    assert result["images"] == 4 and set(result["per_category"]) == {"Mug", "Knife"}
    assert result["overall"]["executability"] == 1.0
    assert len((ev / "predictions.jsonl").read_text().splitlines()) == 4


def test_localiser_model_trains_on_mask_boxes_and_is_scored(tmp_path):
    """A GeneNet with a localiser trains through both stages on ``--mask`` datasets (the masks'
    boxes are its targets, its loss is logged) and ``eval genes`` scores its boxes against the
    ColorImage masks."""
    for kind in ("white", "color"):
        synthesize_dataset(SynthConfig(("Mug", "Knife"), genes=8, poses=1, kind=kind, size=32,
                                       shard_size=8, fractions=(0.5, 0.25, 0.25), mask=True),
                           tmp_path / kind, progress=False)
    common = ["--max-steps", "2", "--batch-size", "4", "--warmup-steps", "1", "--log-every", "1",
              "--eval-every", "2", "--save-every", "2", "--val-samples", "4", "--workers", "0",
              "--no-progress"]
    white = ["train", "--stage", "white", "--data", str(tmp_path / "white"),
             "--out", str(tmp_path / "white-run"), *common, "--model-option", "object_crop=true",
             "--model-option", "localiser=true", "--model-option", "localiser_channels=[8,16]"]
    for option in TINY:
        white += ["--model-option", option]
    assert main(white) == 0
    color = ["train", "--stage", "color", "--data", str(tmp_path / "color"),
             "--out", str(tmp_path / "run"), "--base", str(tmp_path / "white-run"), *common]
    assert main(color) == 0
    # the published model's localiser statistics are re-estimated (precise BN), the
    # checkpoint's are training's running averages; a rerun of the finished command
    # publishes the same model again
    key = "localiser.features.1.running_mean"
    published = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    checkpointed = load_file(str(next((tmp_path / "run" / "checkpoints").glob("step-*"))
                                  / "model" / "model.safetensors"))
    assert not torch.equal(published[key], checkpointed[key])
    assert torch.equal(published["localiser.head.weight"], checkpointed["localiser.head.weight"])
    assert main(color) == 0
    again = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    assert all(torch.equal(again[k], v) for k, v in published.items())
    lines = [json.loads(line) for line in
             (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(m["localiser_loss"] > 0 for m in lines if m["split"] in ("train", "val"))
    ev = tmp_path / "eval"
    assert main(["eval", "genes", "--data", str(tmp_path / "color"), "--model",
                 str(tmp_path / "run"), "--out", str(ev)]) == 0
    result = json.loads((ev / "eval_genes.json").read_text())
    scored = result["localiser"]
    assert scored["images"] == result["images"] > 0
    assert 0.0 <= scored["mean_iou"] <= 1.0 and scored["median_centre_error_px"] >= 0.0
    assert "Localiser on" in (ev / "eval_genes.md").read_text()


def test_single_process_training_is_not_sharded():
    """Checkpoints gather weights only where parameters are shards (FSDP, ZeRO-3); a plain run
    saves the module's own state dict."""
    from accelerate import Accelerator

    from gene_training.train import _gathered_weights, _sharded

    accelerator = Accelerator(cpu=True)
    assert not _sharded(accelerator)
    assert _gathered_weights(accelerator, torch.nn.Linear(2, 2)) is None
