"""ColorImage by diffusion: recolour a WhiteImage with a depth-conditioned ControlNet img2img
pipeline (Stable Diffusion 1.x layout, diffusers) loaded from a local model path.

The WhiteImage is the init image and its depth map the control image, so the diffusion model
paints colours, materials and a scene while the depth conditioning holds the geometry that the
gene labels (the reference's recolouring without it sometimes changed the shape, SPEC §8).
Weights are never downloaded: loading is ``local_files_only``. :func:`build_tiny_pipeline` writes
a tiny randomly initialised pipeline in the same layout, so that the loading and inference code
runs end to end in tests without real weights (right size and type out; quality needs real
weights).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from diffusers import (AutoencoderKL, ControlNetModel, DDIMScheduler,
                       StableDiffusionControlNetImg2ImgPipeline, UNet2DConditionModel)
from PIL import Image
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from gene_perception.registry import CATEGORIES

#: Files a Stable Diffusion 1.x model folder must hold, per component (a config each, and
#: weights where the component has them).
COMPONENT_CONFIGS = {"unet": "config.json", "vae": "config.json", "text_encoder": "config.json",
                     "tokenizer": "tokenizer_config.json", "scheduler": "scheduler_config.json"}
WEIGHTED = ("unet", "vae", "text_encoder")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
#: Words of the prompts :func:`prompt_for` writes.
COLOR_WORDS = ("red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black",
               "white", "grey", "wooden", "metal", "brass", "glossy", "matte", "plastic")
SCENES = ("on a table", "on a desk", "on the floor", "in a kitchen", "in a living room",
          "in an office", "in a workshop", "on a shelf")
PROMPT = "a photo of {article} {color} {noun} {scene}"
NEGATIVE_PROMPT = "deformed, distorted shape, extra parts, blurry, low quality, text, watermark"


class DiffusionModelError(OSError):
    """A diffusion model folder that is missing or cannot be loaded; the message is one line
    naming the folder and what is wrong."""


def prompt_for(category: str, rng: np.random.Generator) -> str:
    """A text prompt for a gene of ``category``, e.g. "a photo of a red mug on a table": the
    category's words (from its registry name) with a random colour or material and scene."""
    color = COLOR_WORDS[int(rng.integers(len(COLOR_WORDS)))]
    scene = SCENES[int(rng.integers(len(SCENES)))]
    return PROMPT.format(article="an" if color[0] in "aeiou" else "a", color=color,
                         noun=_noun(category), scene=scene)


def _noun(category: str) -> str:
    """The words of a registry category name: "KitchenPot" → "kitchen pot"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", category).lower()


def depth_to_control(depth: np.ndarray) -> np.ndarray:
    """Depth in metres (0 on background) → the (H, W, 3) uint8 control image depth ControlNets
    are trained on (MiDaS style): near is bright, far dark, background black."""
    inside = depth > 0
    if not inside.any():
        return np.zeros((*depth.shape, 3), np.uint8)
    near, far = float(depth[inside].min()), float(depth[inside].max())
    t = (far - depth) / max(far - near, 1e-6)
    value = np.where(inside, 0.2 + 0.8 * t, 0.0)
    return np.repeat((value * 255.0 + 0.5).astype(np.uint8)[..., None], 3, axis=2)


def check_model_folder(model_path: Path, controlnet_path: Path) -> None:
    """Raise :class:`DiffusionModelError` naming the first file a loadable model lacks."""
    if not model_path.is_dir():
        raise DiffusionModelError(f"diffusion model {model_path}: not a directory")
    required = [model_path / "model_index.json"]
    required += [model_path / name / config for name, config in COMPONENT_CONFIGS.items()]
    required.append(controlnet_path / "config.json")
    for path in required:
        if not path.is_file():
            raise DiffusionModelError(f"diffusion model {model_path}: missing {path}")
    for folder in [model_path / name for name in WEIGHTED] + [controlnet_path]:
        if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
            raise DiffusionModelError(f"diffusion model {model_path}: no weights "
                                      f"(*{' or *'.join(WEIGHT_SUFFIXES)}) in {folder}")


class DiffusionRecolorizer:
    """Recolours WhiteImages with a depth ControlNet img2img pipeline from local folders.

    ``model_path`` is a Stable Diffusion 1.x folder in diffusers layout (``model_index.json``,
    ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``); ``controlnet_path``
    a depth ControlNet folder (``config.json`` and weights), by default ``model_path/controlnet``.
    The pipeline runs at ``resolution``² (512 suits SD 1.x; it must be a multiple of 8) and the
    result is resized back to the input's size. ``strength`` is how much of the WhiteImage is
    re-noised (1 ignores it), ``guidance_scale`` the classifier-free guidance weight,
    ``controlnet_scale`` how strongly depth holds the geometry.
    """

    def __init__(self, model_path: str | Path, device: str = "cpu", steps: int = 20,
                 strength: float = 0.75, guidance_scale: float = 7.5,
                 controlnet_path: str | Path | None = None, resolution: int = 512,
                 controlnet_scale: float = 1.0, negative_prompt: str = NEGATIVE_PROMPT,
                 dtype: torch.dtype | None = None) -> None:
        if resolution <= 0 or resolution % 8:
            raise ValueError(f"diffusion resolution {resolution}: must be a positive multiple "
                             "of 8")
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"diffusion strength {strength}: must be in (0, 1]")
        if steps < 1:
            raise ValueError(f"diffusion steps {steps}: must be at least 1")
        model_path = Path(model_path)
        controlnet_path = model_path / "controlnet" if controlnet_path is None \
            else Path(controlnet_path)
        check_model_folder(model_path, controlnet_path)
        if dtype is None:
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
        try:
            controlnet = ControlNetModel.from_pretrained(controlnet_path, local_files_only=True)
            pipe = StableDiffusionControlNetImg2ImgPipeline.from_pretrained(
                model_path, controlnet=controlnet, safety_checker=None, feature_extractor=None,
                requires_safety_checker=False, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DiffusionModelError(f"diffusion model {model_path} (controlnet "
                                      f"{controlnet_path}): cannot load: {reason}") from exc
        pipe.set_progress_bar_config(disable=True)
        # Cast after loading: the loaders' dtype keyword was renamed across diffusers versions.
        self.pipe = pipe.to(device, dtype)
        self.steps, self.strength, self.guidance_scale = steps, strength, guidance_scale
        self.resolution, self.controlnet_scale = resolution, controlnet_scale
        self.negative_prompt = negative_prompt

    def __call__(self, white: np.ndarray, depth: np.ndarray, prompt: str,
                 rng: np.random.Generator) -> np.ndarray:
        """Recolour ``white`` ((H, W, 3) uint8) guided by ``depth`` ((H, W) metres, 0 on
        background) and ``prompt``; (H, W, 3) uint8 out. The diffusion noise is seeded from
        ``rng``, so a seed gives the same image on the same device."""
        if white.ndim != 3 or white.shape[2] != 3 or white.dtype != np.uint8:
            raise ValueError(f"white image: expected (H, W, 3) uint8, got {white.shape} "
                             f"{white.dtype}")
        if depth.shape != white.shape[:2]:
            raise ValueError(f"depth: expected shape {white.shape[:2]}, got {depth.shape}")
        side = self.resolution
        init = Image.fromarray(white).resize((side, side), Image.BICUBIC)
        control = Image.fromarray(depth_to_control(depth)).resize((side, side), Image.BILINEAR)
        generator = torch.Generator("cpu").manual_seed(int(rng.integers(2**63 - 1)))
        with torch.inference_mode():
            image = self.pipe(prompt=prompt, negative_prompt=self.negative_prompt, image=init,
                              control_image=control, height=side, width=side,
                              num_inference_steps=self.steps, strength=self.strength,
                              guidance_scale=self.guidance_scale,
                              controlnet_conditioning_scale=self.controlnet_scale,
                              generator=generator, output_type="np").images[0]
        out = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        height, width = white.shape[:2]
        if out.shape[:2] != (height, width):
            out = np.asarray(Image.fromarray(out).resize((width, height), Image.BICUBIC))
        return out


def build_tiny_pipeline(out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny randomly initialised depth ControlNet img2img pipeline to ``out_dir`` in the
    layout of a real local model (SD 1.x folders plus ``controlnet/``) and return ``out_dir``.

    Built from configs (tiny UNet, ControlNet, VAE and CLIP text encoder; a byte-level BPE
    tokenizer whose merges spell the prompt words; DDIM scheduler), so tests exercise the real
    loading and inference path without weights. It runs at 64×64 (``resolution=64``).
    ``out_dir`` must be absent or empty; the folder appears complete or not at all.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"tiny pipeline folder {out_dir}: exists and is not empty")
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer_dir = staging / "tokenizer"
    tokenizer_dir.mkdir(parents=True)
    vocab, merges = _tiny_bpe()
    (tokenizer_dir / "vocab.json").write_text(json.dumps(vocab))
    (tokenizer_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77,
                                              local_files_only=True)
    blocks = dict(block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                  cross_attention_dim=32, attention_head_dim=4)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
        unet = UNet2DConditionModel(sample_size=32, in_channels=4, out_channels=4,
                                    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **blocks)
        controlnet = ControlNetModel(in_channels=4, conditioning_embedding_out_channels=(8, 16),
                                     **blocks)
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
                            block_out_channels=(16, 32), norm_num_groups=8,
                            down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    StableDiffusionControlNetImg2ImgPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        controlnet=controlnet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False).save_pretrained(staging)
    if out_dir.exists():
        out_dir.rmdir()
    os.replace(staging, out_dir)
    return out_dir


def _tiny_bpe() -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merge list in CLIP's format whose merges build every
    word :func:`prompt_for` and :data:`NEGATIVE_PROMPT` use, one character at a time."""
    alphabet = list(_bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet]
    known, merges = set(tokens), []
    text = " ".join([re.sub(r"\{\w+\}", "", PROMPT), "a an", *COLOR_WORDS, *SCENES,
                     NEGATIVE_PROMPT, *map(_noun, CATEGORIES)])
    words = set(re.findall(r"[a-z]+", text))
    for word in sorted(words):
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merged = parts[0] + parts[1]
            if merged not in known:  # one merge per new token, so no merge repeats
                known.add(merged)
                tokens.append(merged)
                merges.append(f"{parts[0]} {parts[1]}")
            parts = [merged, *parts[2:]]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}, merges


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable},
            **{b: chr(256 + n) for n, b in enumerate(others)}}
