"""The VLM judge of SPEC §6: rubric, answer parsing, pluggable backends, retries, answer cache.

A judge is named by a spec:

* ``openai://HOST[:PORT]/MODEL`` — an OpenAI-compatible chat-completions endpoint over HTTPS
  (``https://HOST/v1/chat/completions``; a hosted model, or vLLM / SGLang serving Qwen2.5-VL);
  ``openai+http://HOST:PORT/MODEL`` for a plain-HTTP server on a trusted network. ``MODEL`` may
  contain slashes (``Qwen/Qwen2.5-VL-32B-Instruct``). Images go as base64 ``data:`` URLs. The
  API key is read from ``GENEVLM_JUDGE_API_KEY``, else ``OPENAI_API_KEY`` (none: no
  ``Authorization`` header, as a local vLLM expects); it is sent only in that header and is
  removed from every error message, so it never reaches logs or result files.
* ``hf:PATH`` — a local transformers image-text-to-text model folder (``AutoProcessor`` and
  ``AutoModelForImageTextToText``, chat template applied), e.g. a downloaded Qwen2.5-VL.

Transient failures (HTTP 429 and 5xx, refused or dropped connections, timeouts) are retried
with exponential backoff, honouring ``Retry-After``; other HTTP errors stop the run with one line
naming the endpoint and the status. Every answer is cached on disk under a hash of everything
that determines it (judge spec, prompt, image bytes, temperature, seed, token limit), so a rerun
or an interrupted run costs no second request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import re
import socket
import threading
import time
import zlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .results import write_atomic

log = logging.getLogger(__name__)

#: Environment variables holding the judge's API key, in order of preference.
KEY_VARIABLES = ("GENEVLM_JUDGE_API_KEY", "OPENAI_API_KEY")

#: The rubric of SPEC §6; the photo is the first image, the renders follow.
RUBRIC = """\
The first image is a photo of an object. The other {views} images are renders of a 3D model \
predicted from that photo, seen from different sides.

Rate how similar the 3D model's geometry is to the object in the photo, from 0 to 1:
- overall shape and proportions;
- presence, number and placement of the parts (handles, lids, spouts, legs, doors, drawers, ...);
- ignore colour, texture, material, lighting and background, and the viewing angle;
- a model with disconnected, floating or absurd parts scores below 0.3.

Reason first: compare the shape, the proportions and each part. Then end your answer with one \
last line of exactly this form, with the score to one decimal:
FINAL SCORE: X.X"""

_SCORE = re.compile(r"final[\s_*]*score[\s*]*[:=]?[\s*]*([0-9]*\.?[0-9]+)\s*(%|/\s*[0-9]+)?",
                    re.IGNORECASE)


def parse_score(text: str) -> float | None:
    """The score of the last ``FINAL SCORE`` line (markdown emphasis, ``=``, ``7/10`` and ``70%``
    tolerated); None when there is none or it lies outside [0, 1]."""
    matches = _SCORE.findall(text or "")
    if not matches:
        return None
    number, scale = matches[-1]
    value = float(number)
    if scale == "%":
        value /= 100.0
    elif scale:
        denominator = float(scale.lstrip("/ "))
        if denominator <= 0:
            return None
        value /= denominator
    return value if 0.0 <= value <= 1.0 else None


class JudgeError(Exception):
    """A judge that cannot be used: bad spec, refused request, missing model (named)."""


class Judge(Protocol):
    """A VLM that answers one prompt about a list of PNG images."""

    #: The spec without secrets: the cache key's and the result files' name of the judge.
    name: str
    #: How many requests may run at once (1 for a local model).
    concurrency: int

    def ask(self, prompt: str, images: Sequence[bytes], *, temperature: float, seed: int,
            max_tokens: int) -> str: ...


def api_key() -> str | None:
    """The judge's API key from the first of :data:`KEY_VARIABLES` that is set, else None."""
    for variable in KEY_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    return None


class OpenAIJudge:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint (module doc)."""

    #: HTTP statuses worth retrying: rate limits and server-side failures.
    RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

    def __init__(self, name: str, url: str, model: str, key: str | None, *, retries: int = 6,
                 backoff_s: float = 1.0, timeout_s: float = 300.0, concurrency: int = 8) -> None:
        self.name, self.url, self.model = name, url, model
        self._key = key
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self.concurrency = concurrency
        self._jitter = random.Random()
        self._refused: str | None = None  # set by a non-retryable answer: ask no more

    def _redact(self, text: str) -> str:
        """One line, without the key (servers echo keys in their error messages)."""
        text = " ".join(text.split())
        return text.replace(self._key, "***") if self._key else text

    def ask(self, prompt: str, images: Sequence[bytes], *, temperature: float, seed: int,
            max_tokens: int) -> str:
        if self._refused:
            raise JudgeError(self._refused)
        content = [{"type": "text", "text": prompt}] + [
            {"type": "image_url",
             "image_url": {"url": "data:image/png;base64," + base64.b64encode(i).decode()}}
            for i in images]
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": content}],
                           "temperature": temperature, "seed": seed,
                           "max_tokens": max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(self.retries + 1):
            wait = None
            try:
                request = urllib.request.Request(self.url, body, headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return _answer_text(response.read())
            except urllib.error.HTTPError as exc:
                detail = self._redact(exc.read().decode(errors="replace")[:300])
                if exc.code not in self.RETRY_STATUS or attempt == self.retries:
                    self._refused = f"judge {self.name}: HTTP {exc.code} {exc.reason}: {detail}"
                    raise JudgeError(self._refused) from None
                wait = _retry_after(exc.headers.get("Retry-After"))
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, HTTPException, socket.timeout, ConnectionError) as exc:
                if attempt == self.retries:
                    raise JudgeError(f"judge {self.name}: no answer from {self.url} "
                                     f"({self._redact(str(exc))})") from None
                reason = type(exc).__name__
            if wait is None:
                wait = self.backoff_s * 2 ** attempt * (1 + 0.25 * self._jitter.random())
            log.info("judge %s: %s, retry %d/%d in %.1f s", self.name, reason, attempt + 1,
                     self.retries, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")


def _retry_after(value: str | None) -> float | None:
    """Seconds of a numeric ``Retry-After`` header, capped at a minute (dates are ignored)."""
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else None
    except ValueError:
        return None


def _answer_text(raw: bytes) -> str:
    """The first choice's text; an unexpected body is an empty (unparseable) answer, which the
    scorer retries like any other answer without a score."""
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning("judge: an answer without choices[0].message.content")
        return ""
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


class HFJudge:
    """A local transformers VLM folder; the prompt's images go before its text."""

    concurrency = 1

    def __init__(self, name: str, path: Path, device: str = "cpu") -> None:
        try:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.processor = AutoProcessor.from_pretrained(str(path))
            self.model = AutoModelForImageTextToText.from_pretrained(str(path)).to(device).eval()
        except (OSError, ValueError, ImportError) as exc:
            reason = " ".join(str(exc).split()).split(". ")[0] or repr(exc)  # first sentence
            raise JudgeError(f"judge {name}: cannot load a transformers VLM from {path} "
                             f"({reason})") from None
        self.name, self.device = name, device

    def ask(self, prompt: str, images: Sequence[bytes], *, temperature: float, seed: int,
            max_tokens: int) -> str:
        import io

        import torch
        from PIL import Image

        pictures = [Image.open(io.BytesIO(b)).convert("RGB") for b in images]
        messages = [{"role": "user", "content": [{"type": "image"} for _ in pictures]
                     + [{"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)
        inputs = self.processor(text=[text], images=pictures, return_tensors="pt").to(self.device)
        cuda = range(torch.cuda.device_count()) if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=cuda), torch.inference_mode():
            torch.manual_seed(seed)
            sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 \
                else {"do_sample": False}
            out = self.model.generate(**inputs, max_new_tokens=max_tokens, **sampling)
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:],
                                           skip_special_tokens=True)[0]


_OPENAI = re.compile(r"^openai(\+http)?://([^/\s]+)/(\S+)$")


def make_judge(spec: str, *, device: str = "cpu", concurrency: int = 8,
               backoff_s: float = 1.0, retries: int = 6) -> Judge:
    """The judge a spec names (module doc); ``JudgeError`` for a malformed spec."""
    match = _OPENAI.match(spec)
    if match:
        plain, host, model = match.groups()
        url = f"{'http' if plain else 'https'}://{host}/v1/chat/completions"
        return OpenAIJudge(spec, url, model, api_key(), retries=retries, backoff_s=backoff_s,
                           concurrency=concurrency)
    if spec.startswith("hf:") and len(spec) > 3:
        path = Path(spec[3:])
        if not path.is_dir():
            raise JudgeError(f"judge {spec}: {path} is not a model folder")
        return HFJudge(f"hf:{path.resolve()}", path, device)
    raise JudgeError(f"--judge {spec!r}: expected openai://HOST/MODEL, "
                     f"openai+http://HOST:PORT/MODEL or hf:PATH")


class AnswerCache:
    """Judge answers on disk, one JSON file per request hash (``folder`` None: no cache)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = self.misses = 0
        self._lock = threading.Lock()  # judges run in threads; the counters are shared

    @staticmethod
    def key(judge: str, prompt: str, images: Sequence[bytes], **settings: object) -> str:
        h = hashlib.sha256(json.dumps([judge, prompt, sorted(settings.items())]).encode())
        for image in images:
            h.update(hashlib.sha256(image).digest())
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        found = self.folder is not None and self._path(key).is_file()
        with self._lock:
            if found:
                self.hits += 1
            else:
                self.misses += 1
        return json.loads(self._path(key).read_text())["answer"] if found else None

    def put(self, key: str, judge: str, answer: str) -> None:
        if self.folder is None:
            return
        write_atomic(self._path(key), json.dumps({"judge": judge, "answer": answer}))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/genevlm/judge`` (``~/.cache`` by default): shared by every run."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genevlm" / "judge"


@dataclass(frozen=True)
class JudgeSettings:
    """SPEC §6: 3 runs of 4 of the 8 views; ``attempts`` answers per run at most while an
    answer has no parseable score (each with its own sampling seed)."""

    runs: int = 3
    views_per_run: int = 4
    temperature: float = 0.7
    max_tokens: int = 1024
    attempts: int = 3
    seed: int = 0


def judge_views(judge: Judge, cache: AnswerCache, photo: bytes, views: Sequence[bytes],
                item_key: str, settings: JudgeSettings) -> dict:
    """Score one prediction: per run a seeded random choice of views, the rubric, the parsed
    score; the mean over the runs that gave a score."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(item_key.encode())])
    prompt = RUBRIC.format(views=settings.views_per_run)
    runs = []
    for run in range(settings.runs):
        picks = sorted(int(v) for v in rng.choice(len(views), settings.views_per_run,
                                                  replace=False))
        images = [photo] + [views[v] for v in picks]
        score, attempt = None, 0
        for attempt in range(settings.attempts):
            seed = zlib.crc32(f"{settings.seed}/{item_key}/{run}/{attempt}".encode())
            key = cache.key(judge.name, prompt, images, temperature=settings.temperature,
                            seed=seed, max_tokens=settings.max_tokens)
            answer = cache.get(key)
            if answer is None:
                answer = judge.ask(prompt, images, temperature=settings.temperature, seed=seed,
                                   max_tokens=settings.max_tokens)
                cache.put(key, judge.name, answer)
            score = parse_score(answer)
            if score is not None:
                break
        runs.append({"views": picks, "score": score, "answers": attempt + 1})
    scores = [r["score"] for r in runs if r["score"] is not None]
    return {"vlm_score": float(np.mean(scores)) if scores else None, "runs": runs,
            "failed_runs": len(runs) - len(scores)}
