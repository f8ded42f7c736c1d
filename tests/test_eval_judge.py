"""The VLM judge and the prompted baseline (issue 7) against a real HTTP server on loopback that
speaks the OpenAI chat-completions protocol: rate limits and server errors then success
(retries), garbage answers, the answer cache on a rerun, the API key never in any output; answer
parsing; the local transformers judge's loading path."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from gene_eval.baseline import baseline_prompt, parse_answer
from gene_eval.cli_eval import register_eval
from gene_eval.judge import RUBRIC, JudgeError, make_judge, parse_score
from gene_perception.cli import CliError
from gene_perception.sample import sample_gene

KEY = "sk-test-4f9c2e7d1b"
GOOD = "The body and handle match; proportions are close.\nFINAL SCORE: 0.6"


def run_eval(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="genevlm eval")
    register_eval(parser.add_subparsers(dest="what", required=True))
    args = parser.parse_args([str(a) for a in argv])
    args.handler(args)


class Endpoint:
    """A loopback chat-completions server. ``script`` holds the next responses, each
    ``(status, answer text or raw body, headers)``; when it is empty, ``default(request)``
    answers. Every request is recorded (headers and JSON body)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str, dict]] = []
        self.requests: list[dict] = []
        self.default = lambda request: (200, GOOD, {})
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = {"path": self.path, "auth": self.headers.get("Authorization"),
                           "body": body}
                with lock:
                    endpoint.requests.append(request)
                    status, text, headers = endpoint.script.pop(0) if endpoint.script \
                        else endpoint.default(request)
                payload = text if status != 200 or text.startswith("RAW:") else json.dumps(
                    {"id": "x", "object": "chat.completion",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}]})
                data = payload.removeprefix("RAW:").encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep the test output clean
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spec(self, model: str = "Qwen/Qwen2.5-VL-32B-Instruct") -> str:
        return f"openai+http://127.0.0.1:{self.server.server_port}/{model}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def endpoint():
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name in ("cup.png", "shelf/chair.jpg"):
        (folder / name).parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), np.uint8)).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from gene_training.dataset import SynthConfig, synthesize_dataset

    data = tmp_path_factory.mktemp("synth")
    synthesize_dataset(SynthConfig(categories=("Mug", "Chair"), genes=1, poses=2, size=48,
                                   fractions=(0.0, 0.0, 1.0)), data, progress=False)
    out = tmp_path_factory.mktemp("pairs") / "pairs"
    run_eval("make-pairs", "--data", data, "--out", out)
    return out


def _images_of(request: dict) -> list[Image.Image]:
    parts = request["body"]["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert all(u.startswith("data:image/png;base64,") for u in urls)
    return [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))) for u in urls]


@pytest.mark.parametrize("text,score", [
    ("FINAL SCORE: 0.7", 0.7), ("reasoning...\n**Final Score:** 0.65", 0.65),
    ("final score = 7/10", 0.7), ("FINAL SCORE: 85%", 0.85), ("Final_score: .5", 0.5),
    ("FINAL SCORE: X.X\nFINAL SCORE: 0.4", 0.4), ("FINAL SCORE: 0.2 then FINAL SCORE: 0.9", 0.9),
    ("FINAL SCORE: 1.3", None), ("I cannot judge this.", None), ("", None)])
def test_parse_score(text, score):
    assert parse_score(text) == score


def test_judge_retries_caches_and_never_leaks_the_key(endpoint, model_dir, photos, tmp_path,
                                                      monkeypatch, capsys, caplog):
    monkeypatch.setenv("GENEVLM_JUDGE_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    endpoint.script = [(429, "slow down", {"Retry-After": "0"}),
                       (500, f"internal error near {KEY}", {}),
                       (200, "Nice object. No score from me.", {}),  # garbage: asked again
                       (200, "RAW:{\"unexpected\": true}", {})]  # not a chat answer: again
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["judge", "--images", photos, "--model", model_dir, "--judge", endpoint.spec(),
            "--out", out, "--cache", cache, "--retry-backoff", "0.01", "--concurrency", "1",
            "--render-size", "64", "--gallery", "1"]
    run_eval(*args)
    first = json.loads((out / "eval_judge.json").read_text())
    assert first["overall"]["n"] == 2 and first["overall"]["vlm_score"] == pytest.approx(0.6)
    assert first["failed_runs"] == 0 and first["judge"] == endpoint.spec()
    # 2 images × 3 runs, one answer each, plus 2 retried HTTP failures and 2 re-asked answers
    assert len(endpoint.requests) == 6 + 2 + 2
    for request in endpoint.requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["auth"] == f"Bearer {KEY}"
        body = request["body"]
        assert body["model"] == "Qwen/Qwen2.5-VL-32B-Instruct" and body["temperature"] == 0.7
        text = body["messages"][0]["content"][0]["text"]
        assert text == RUBRIC.format(views=4) and text.endswith("FINAL SCORE: X.X")
        images = _images_of(request)
        assert len(images) == 5 and images[0].size == (80, 60)  # the photo, then 4 renders
        assert all(im.size == (64, 64) for im in images[1:])
    item = json.loads((out / "judge_items.jsonl").read_text().splitlines()[0])
    assert [r["answers"] for r in item["runs"]] == [3, 1, 1]
    assert all(len(set(r["views"])) == 4 and max(r["views"]) < 8 for r in item["runs"])
    assert (out / "gallery" / "judge-000.png").is_file()

    run_eval(*args)  # the rerun is served from the cache
    assert len(endpoint.requests) == 10
    second = json.loads((out / "eval_judge.json").read_text())
    assert second["cache"]["misses"] == 0 and second["overall"] == first["overall"]

    printed = capsys.readouterr()
    files = [p.read_text() for p in [*out.rglob("*.json*"), *out.rglob("*.md"),
                                     *cache.rglob("*.json")]]
    for text in [printed.out, printed.err, caplog.text, *files]:
        assert KEY not in text
    assert "retry 1/6" in caplog.text  # the retries were logged, without the key


def test_unscorable_answers_are_counted_not_averaged(endpoint, model_dir, photos, tmp_path):
    endpoint.default = lambda request: (200, "It is a thing.", {})
    run_eval("judge", "--images", photos / "cup.png", "--model", model_dir, "--judge",
             endpoint.spec(), "--out", tmp_path, "--no-cache", "--render-size", "48",
             "--runs", "2")
    result = json.loads((tmp_path / "eval_judge.json").read_text())
    assert result["overall"]["vlm_score"] is None and result["failed_runs"] == 2
    assert len(endpoint.requests) == 2 * 3  # each run asked 3 times


def test_refused_requests_stop_with_one_redacted_line(endpoint, model_dir, photos, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    endpoint.default = lambda request: (401, f"Incorrect API key provided: {KEY}", {})
    with pytest.raises(CliError) as caught:
        run_eval("judge", "--images", photos, "--model", model_dir, "--judge", endpoint.spec(),
                 "--no-cache", "--render-size", "48", "--concurrency", "1")
    message = str(caught.value)
    assert message.startswith(f"judge {endpoint.spec()}: HTTP 401") and KEY not in message
    assert "\n" not in message and len(endpoint.requests) == 1  # no retry of a 401


def test_judge_spec_errors(tmp_path):
    for spec in ("gpt4", "openai://", "hf:"):
        with pytest.raises(JudgeError, match="expected openai://HOST/MODEL"):
            make_judge(spec)
    with pytest.raises(JudgeError, match="is not a model folder"):
        make_judge(f"hf:{tmp_path / 'missing'}")
    assert make_judge("openai://api.example.com/gpt-4o").url == \
        "https://api.example.com/v1/chat/completions"


def test_hf_judge_loads_a_local_vlm_or_names_what_is_missing(tmp_path):
    """A tiny random Qwen2.5-VL folder: transformers' processor for it needs torchvision (its
    video processor); where torchvision is missing the judge fails with one line naming the
    folder and the reason; where it is present, it answers (random text, no score)."""
    from gene_perception.models.qwen_vl import build_tiny_base

    folder = build_tiny_base(tmp_path / "vlm")
    try:
        judge = make_judge(f"hf:{folder}")
    except JudgeError as exc:
        assert str(exc).startswith(f"judge hf:{folder}: cannot load a transformers VLM")
        assert "torchvision" in str(exc).lower() and "\n" not in str(exc)
        return
    photo = io.BytesIO()
    Image.new("RGB", (56, 56)).save(photo, format="PNG")
    answer = judge.ask("Rate it.", [photo.getvalue()] * 2, temperature=0.0, seed=0, max_tokens=8)
    assert isinstance(answer, str)


# ---- the prompted baseline


def test_baseline_prompt_and_answer_parsing():
    prompt = baseline_prompt()
    assert '"Mug":{' in prompt and '"Curved_Handle"' in prompt  # the categories --json table
    gene = sample_gene("Chair", np.random.default_rng(0))
    assert parse_answer(f"Here:\n```json\n{gene.dumps(indent=1)}\n```").gene == gene
    assert parse_answer(f"<code>{gene.dumps()}</code>").gene == gene
    assert parse_answer(f"The gene is {gene.dumps()} as asked.").gene == gene
    assert parse_answer("I see a chair.").error == "no_json"
    bad = json.loads(gene.dumps())
    bad["conceptualization"][0]["template"] = "Flying_Saucer"
    invalid = parse_answer(json.dumps(bad))
    assert invalid.gene is None and invalid.error.startswith("invalid: $.conceptualization[0]")


def test_baseline_counts_failures_and_scores_the_rest(endpoint, pairs, model_dir, tmp_path):
    genes = {}
    for gene_file in sorted(pairs.rglob("images/*.json")):
        genes[gene_file.parent.parent.parent.name, gene_file.stem] = gene_file.read_text()
    # The pairs folder holds 4 images (Chair: 2 views, Mug: 2 views), asked in order.
    chair_view0 = genes["Chair", "0"]
    answers = iter([f"```json\n{chair_view0}\n```",  # Chair view 0: exactly right
                    "Sorry, I can only describe it: a chair.",  # no JSON
                    '{"category": "Mug", "pose": {}, "conceptualization": []}',  # invalid
                    f"<code>{genes['Mug', '1']}</code>"])  # Mug view 1: exactly right

    def answer(request):
        text = request["body"]["messages"][0]["content"][0]["text"]
        return (200, next(answers) if text == baseline_prompt() else GOOD, {})

    endpoint.default = answer
    out = tmp_path / "baseline"
    run_eval("baseline", "--images", pairs, "--judge", endpoint.spec(), "--quantiles", model_dir,
             "--out", out, "--no-cache", "--concurrency", "1", "--render-size", "48",
             "--gallery", "0")
    result = json.loads((out / "eval_baseline.json").read_text())
    assert result["outputs"] == 4 and result["non_executable"] == 2
    assert result["failures"] == {"no_json": 1, "invalid": 1, "not_executable": 0}
    overall = result["overall"]
    assert overall["vlm_score"] == pytest.approx(0.6)
    assert overall["concept_accuracy"] == pytest.approx(0.5)  # 2 of 4 right, failures wrong
    assert overall["float_error"] == pytest.approx(0.0)  # the right ones are exact
    assert overall["chamfer"] < 0.01 and overall["f@0.05"] > 0.99  # exact shapes
    baseline_requests = [r for r in endpoint.requests
                         if r["body"]["messages"][0]["content"][0]["text"] == baseline_prompt()]
    assert len(baseline_requests) == 4 and len(_images_of(baseline_requests[0])) == 1
    assert len(endpoint.requests) == 4 + 2 * 3  # 2 executable predictions × 3 judge runs
    rows = [json.loads(line) for line in (out / "baseline_items.jsonl").read_text().splitlines()]
    assert [r["error"] is None for r in rows] == [True, False, False, True]
    assert "non-executable outputs: 2" in (out / "eval_baseline.md").read_text()
