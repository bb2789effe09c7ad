"""A tiny SPHINX release in the release's own format, and its forward pass written from the facts.

Nothing here uses sphinx-x or transformers models: the reference reads the release's key names
directly (timm ConvNeXt, DINOv2 hub, Meta LLaMA with interleaved rotary pairs), so agreeing with it
checks the converter's key map, the rotary permutation, the view extraction and the token layout.
The views are cut as the release does on its GPU: bicubic resizes in float16 (float arithmetic on
float16 inputs, the CUDA kernel's formula written out here, the result rounded to float16).
four_expert_reference.py adds the Q-Former, CLIP and the sparse Mixtral of SPHINX v1 / MoE.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from PIL import Image

# Scaled-down dims with the release's structure.
LLM = {
    "dim": 64,
    "n_layers": 2,
    "n_heads": 4,
    "n_kv_heads": 2,
    "ffn": 96,
    "norm_eps": 1e-5,
    "rope_theta": 10000.0,
}
CONVNEXT = {"dims": [16, 32], "depths": [1, 2], "patch": 4}  # stride 4 * 2 = 8: a 32 view -> 4x4
DINOV2 = {"dim": 128, "depth": 2, "patch": 4, "trained_side": 6}  # 2 heads of 64; 6x6 positions, used at 4x4
VIEWS = {"convnext": 32, "dinov2": 16}  # view size overrides for the two-expert layouts
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
DINO_MEAN, DINO_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def swiglu_hidden(dim: int) -> int:
    return (int(dim * 4 * 2 / 3) + 7) // 8 * 8  # DINOv2's SwiGLU hidden, as the hub computes it


def train_sentencepiece(folder: Path) -> Path:
    """A small LLaMA-like SentencePiece BPE model (byte fallback, dummy prefix)."""
    corpus = folder / "corpus.txt"
    lines = [
        "A chat between a curious human and an artificial intelligence assistant.",
        "The assistant gives helpful, detailed, and polite answers to the human's questions.",
        "### Human: What is in the image?", "### Assistant: A red square and a blue circle.",
        "Please provide the bounding box coordinate of the region [0.12, 0.34, 0.56, 0.78]",
    ]  # fmt: skip
    corpus.write_text("\n".join(lines * 10))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=400, model_type="bpe",
        byte_fallback=True, add_dummy_prefix=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        hard_vocab_limit=False, minloglevel=2,
    )  # fmt: skip
    return folder / "tokenizer.model"


class Random:
    """Random tensors for a tiny checkpoint, reproducible from a seed."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, scale=0.1):
        return torch.randn(*shape, generator=self.generator) * scale

    def norm(self, size):
        return 1 + self(size), self(size)


def convnext_state(rand: Random, prefix="llma.openclip_convnext_xxl.", dims=None, depths=None, patch=None):
    dims, depths, patch = dims or CONVNEXT["dims"], depths or CONVNEXT["depths"], patch or CONVNEXT["patch"]
    state, c = {}, prefix
    state[c + "stem.0.weight"], state[c + "stem.0.bias"] = rand(dims[0], 3, patch, patch), rand(dims[0])
    state[c + "stem.1.weight"], state[c + "stem.1.bias"] = rand.norm(dims[0])
    for s, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
        if s > 0:
            p = f"{c}stages.{s}.downsample."
            state[p + "0.weight"], state[p + "0.bias"] = rand.norm(dims[s - 1])
            state[p + "1.weight"], state[p + "1.bias"] = rand(dim, dims[s - 1], 2, 2), rand(dim)
        for b in range(depth):
            p = f"{c}stages.{s}.blocks.{b}."
            state[p + "conv_dw.weight"], state[p + "conv_dw.bias"] = rand(dim, 1, 7, 7), rand(dim)
            state[p + "norm.weight"], state[p + "norm.bias"] = rand.norm(dim)
            state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"] = rand(4 * dim, dim), rand(4 * dim)
            state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"] = rand(dim, 4 * dim), rand(dim)
            state[p + "gamma"] = 0.5 + rand(dim)
    state[c + "head.norm.weight"], state[c + "head.norm.bias"] = rand.norm(dims[-1])
    return state


def dinov2_state(rand: Random, patch=None, trained_side=None):
    d, dim = "llma.dinov2_vitg14.", DINOV2["dim"]
    patch, side, hidden = patch or DINOV2["patch"], trained_side or DINOV2["trained_side"], swiglu_hidden(dim)
    state = {d + "cls_token": rand(1, 1, dim), d + "mask_token": torch.zeros(1, dim)}
    state[d + "pos_embed"] = rand(1, 1 + side * side, dim)
    state[d + "patch_embed.proj.weight"], state[d + "patch_embed.proj.bias"] = (
        rand(dim, 3, patch, patch),
        rand(dim),
    )
    for b in range(DINOV2["depth"]):
        p = f"{d}blocks.{b}."
        state[p + "norm1.weight"], state[p + "norm1.bias"] = rand.norm(dim)
        state[p + "attn.qkv.weight"], state[p + "attn.qkv.bias"] = rand(3 * dim, dim), rand(3 * dim)
        state[p + "attn.proj.weight"], state[p + "attn.proj.bias"] = rand(dim, dim), rand(dim)
        state[p + "ls1.gamma"] = 0.5 + rand(dim)
        state[p + "norm2.weight"], state[p + "norm2.bias"] = rand.norm(dim)
        state[p + "mlp.w12.weight"], state[p + "mlp.w12.bias"] = rand(2 * hidden, dim), rand(2 * hidden)
        state[p + "mlp.w3.weight"], state[p + "mlp.w3.bias"] = rand(dim, hidden), rand(dim)
        state[p + "ls2.gamma"] = 0.5 + rand(dim)
    state[d + "norm.weight"], state[d + "norm.bias"] = rand.norm(dim)
    return state


def projector_state(rand: Random, name: str, features: int, dim: int):
    state = {f"llma.{name}.0.weight": rand(dim, features), f"llma.{name}.0.bias": rand(dim)}
    state[f"llma.{name}.1.weight"], state[f"llma.{name}.1.bias"] = rand.norm(dim)
    return state


def llama_state(rand: Random, vocab_size: int, llm=LLM, dense_ffn: bool = True):
    """Embeddings, attention, norms and output; the dense feed-forward unless `dense_ffn=False`."""
    hidden, head_dim = llm["dim"], llm["dim"] // llm["n_heads"]
    state = {"llma.start_img": rand(1, 1, hidden), "llma.end_img": rand(1, 1, hidden)}
    state["llma.tok_embeddings.weight"] = rand(vocab_size, hidden, scale=1.0)
    for layer in range(llm["n_layers"]):
        p = f"llma.layers.{layer}."
        state[p + "attention.wq.weight"] = rand(llm["n_heads"] * head_dim, hidden, scale=0.3)
        state[p + "attention.wk.weight"] = rand(llm["n_kv_heads"] * head_dim, hidden, scale=0.3)
        state[p + "attention.wv.weight"] = rand(llm["n_kv_heads"] * head_dim, hidden)
        state[p + "attention.wo.weight"] = rand(hidden, llm["n_heads"] * head_dim)
        if dense_ffn:
            state[p + "feed_forward.w1.weight"] = rand(llm["ffn"], hidden)
            state[p + "feed_forward.w2.weight"] = rand(hidden, llm["ffn"])
            state[p + "feed_forward.w3.weight"] = rand(llm["ffn"], hidden)
        state[p + "attention_norm.weight"], _ = rand.norm(hidden)
        state[p + "ffn_norm.weight"], _ = rand.norm(hidden)
    state["llma.norm.weight"], _ = rand.norm(hidden)
    state["llma.output.weight"] = rand(vocab_size, hidden)
    return state


def release_state(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights of a two-expert release (SPHINX-Tiny) under its key names and (scaled) shapes."""
    rand = Random(seed)
    state = convnext_state(rand) | dinov2_state(rand)
    state |= projector_state(rand, "visual_proj", CONVNEXT["dims"][-1] + DINOV2["dim"], LLM["dim"])
    return state | llama_state(rand, vocab_size)


def split_for_tensor_parallel(
    state: dict[str, torch.Tensor], parts: int, num_experts: int | None = None
) -> list[dict[str, torch.Tensor]]:
    """The release's Megatron-style split, written out independently of the converter. The sparse
    experts (bare `feed_forward.w1/w2/w3`) give each shard a slice of every expert's hidden rows."""

    def dim_of(name):
        if name == "llma.tok_embeddings.weight":
            return 1
        if name.startswith("llma.layers.") and name.endswith(("wo.weight", "w2.weight")):
            return 1
        if name == "llma.output.weight" or (name.startswith("llma.layers.") and name.endswith(
            ("wq.weight", "wk.weight", "wv.weight", "w1.weight", "w3.weight"))):  # fmt: skip
            return 0
        return None

    if parts == 1:
        return [{name: tensor.clone() for name, tensor in state.items()}]
    shards = [{} for _ in range(parts)]
    for name, tensor in state.items():
        if name.startswith("llma.layers.") and name.endswith(
            ("feed_forward.w1", "feed_forward.w2", "feed_forward.w3")
        ):
            experts = tensor.view(num_experts, -1, tensor.shape[-1])
            pieces = [piece.reshape(-1, tensor.shape[-1]) for piece in experts.chunk(parts, dim=1)]
        else:
            dim = dim_of(name)
            pieces = tensor.chunk(parts, dim=dim) if dim is not None else [tensor] * parts
        for shard, piece in zip(shards, pieces, strict=True):
            shard[name] = piece.clone()
    return shards


def write_release(
    folder: Path,
    state,
    tokenizer_model: Path,
    parts: int = 1,
    llama_type: str = "llama_ens5_light",
    args: dict | None = None,
    num_experts: int | None = None,
):
    """The release's folder: shards, config.json (the LLM's ModelArgs), meta.json, tokenizer.model."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, shard in enumerate(split_for_tensor_parallel(state, parts, num_experts)):
        torch.save({"model": shard}, folder / f"consolidated.{index:02d}-of-{parts:02d}.model.pth")
    if args is None:
        args = {k: LLM[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "norm_eps", "rope_theta")}
    (folder / "config.json").write_text(json.dumps(args | {"vocab_size": -1, "max_seq_len": 2048}))
    (folder / "meta.json").write_text(json.dumps({"llama_type": llama_type}))
    (folder / "tokenizer.model").write_bytes(tokenizer_model.read_bytes())
    return folder


# -- the views, as the release cuts them on its GPU --------------------------------------------


def cubic_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices `[out, 4]` and weights `[out, 4]` of CUDA's bicubic kernel (A = -0.75,
    half-pixel centres, borders clamped), source positions in float32 as the kernel has them."""
    a = -0.75
    real = torch.tensor(in_size / out_size, dtype=torch.float32) * (torch.arange(out_size) + 0.5) - 0.5
    start = torch.floor(real)
    t = real - start
    near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1  # noqa: E731  |x| <= 1
    far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # noqa: E731  1 < |x| < 2
    indices = (start.long()[:, None] + torch.arange(-1, 3)).clamp(0, in_size - 1)
    return indices, torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], dim=-1)


def resize_like_the_release(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """`F.interpolate(x.half(), size, mode="bicubic").to(x)` on a GPU: `[N, 3, S, S]` float16 inputs,
    float32 arithmetic (rows first, then columns), the result rounded to float16."""
    x = pixels.half().float()
    if x.shape[-1] == side:
        return x  # the kernel copies a same-size input
    rows, row_weights = cubic_taps(x.shape[-2], side)
    cols, col_weights = cubic_taps(x.shape[-1], side)
    gathered = x[:, :, rows][..., cols]  # [N, 3, side, 4, side, 4]
    across = (gathered * col_weights).sum(-1)  # [N, 3, side, 4, side]
    return (across * row_weights[:, :, None]).sum(-2).half().float()


def nearest_like_the_release(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """`F.interpolate(x.half(), size)` (mode "nearest"): source index floor(i * in / out)."""
    source = (torch.arange(side) * (pixels.shape[-1] / side)).floor().long().clamp(max=pixels.shape[-1] - 1)
    return pixels.half().float()[..., source, :][..., source]


def padded_square(image: Image.Image, square_side: int) -> torch.Tensor:
    """Pad centred with int(255 * CLIP mean), bicubic (PIL) to the square, CLIP-normalise: `[1, 3, S, S]`."""
    width, height = image.size
    side = max(width, height)
    padded = Image.new("RGB", (side, side), tuple(int(255 * m) for m in CLIP_MEAN))
    padded.paste(image, ((side - width) // 2, (side - height) // 2))
    pixels = torch.from_numpy(
        np.asarray(padded.resize((square_side, square_side), Image.BICUBIC), dtype=np.float32) / 255
    )
    mean, std = torch.tensor(CLIP_MEAN).view(3, 1, 1), torch.tensor(CLIP_STD).view(3, 1, 1)
    return ((pixels.permute(2, 0, 1) - mean) / std)[None]


def release_views(image: Image.Image, grid: int, view: int, square_side: int) -> torch.Tensor:
    """Global view = the square resized (in float16); sub-images = crops of the square resized to
    grid * view (in float16), or of the square itself when it has that size (not rounded)."""
    pixels = padded_square(image, square_side)
    views = [resize_like_the_release(pixels, view)]
    if grid > 1:
        fine = pixels if grid * view == square_side else resize_like_the_release(pixels, grid * view)
        views += [
            fine[..., r * view : (r + 1) * view, c * view : (c + 1) * view]
            for r in range(grid)
            for c in range(grid)
        ]
    return torch.cat(views)


# -- the experts ----------------------------------------------------------------------------------


def layer_norm_2d(x, weight, bias, eps):
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps).permute(0, 3, 1, 2)


def convnext_reference(state, x, prefix="llma.openclip_convnext_xxl.", depths=None, patch=None, repeat=1):
    """timm ConvNeXt trunk + head norm; the map repeated `repeat` x `repeat` (SPHINX v1), the mean
    token prepended: `[N, 1 + h*w, C]`."""
    c, depths, patch = prefix, depths or CONVNEXT["depths"], patch or CONVNEXT["patch"]
    x = F.conv2d(x, state[c + "stem.0.weight"], state[c + "stem.0.bias"], stride=patch)
    x = layer_norm_2d(x, state[c + "stem.1.weight"], state[c + "stem.1.bias"], 1e-5)
    for s, depth in enumerate(depths):
        if s > 0:
            p = f"{c}stages.{s}.downsample."
            x = layer_norm_2d(x, state[p + "0.weight"], state[p + "0.bias"], 1e-5)
            x = F.conv2d(x, state[p + "1.weight"], state[p + "1.bias"], stride=2)
        for b in range(depth):
            p = f"{c}stages.{s}.blocks.{b}."
            y = F.conv2d(
                x, state[p + "conv_dw.weight"], state[p + "conv_dw.bias"], padding=3, groups=x.shape[1]
            )
            y = F.layer_norm(
                y.permute(0, 2, 3, 1), (x.shape[1],), state[p + "norm.weight"], state[p + "norm.bias"], 1e-5
            )
            y = F.linear(F.gelu(F.linear(y, state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"])),
                         state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"])  # fmt: skip
            x = x + (y * state[p + "gamma"]).permute(0, 3, 1, 2)
    x = layer_norm_2d(x, state[c + "head.norm.weight"], state[c + "head.norm.bias"], 1e-5)
    x = x.repeat_interleave(repeat, dim=-1).repeat_interleave(repeat, dim=-2)
    tokens = x.flatten(2).transpose(1, 2)
    return torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)


def attention(q, k, v, heads: int):
    """Plain multi-head attention, `[N, L, D]` each (no mask)."""
    n, length, dim = q.shape
    q, k, v = (t.reshape(n, -1, heads, dim // heads).transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dim // heads), dim=-1)
    return (weights @ v).transpose(1, 2).reshape(n, length, dim)


def dinov2_reference(state, x, patch=None, trained_side=None):
    d, patch, side = "llma.dinov2_vitg14.", patch or DINOV2["patch"], trained_side or DINOV2["trained_side"]
    x = x * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    x = (x - torch.tensor(DINO_MEAN).view(1, 3, 1, 1)) / torch.tensor(DINO_STD).view(1, 3, 1, 1)
    size = x.shape[-1] // patch
    x = F.conv2d(x, state[d + "patch_embed.proj.weight"], state[d + "patch_embed.proj.bias"], stride=patch)
    x = torch.cat([state[d + "cls_token"].expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
    pos = state[d + "pos_embed"]
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    scale = (size + 0.1) / side
    grid = F.interpolate(grid, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    x = x + torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, size * size, -1)], dim=1)
    dim = DINOV2["dim"]
    for b in range(DINOV2["depth"]):
        p = f"{d}blocks.{b}."
        y = F.layer_norm(x, (dim,), state[p + "norm1.weight"], state[p + "norm1.bias"], 1e-6)
        q, k, v = F.linear(y, state[p + "attn.qkv.weight"], state[p + "attn.qkv.bias"]).chunk(3, dim=-1)
        y = F.linear(
            attention(q, k, v, dim // 64), state[p + "attn.proj.weight"], state[p + "attn.proj.bias"]
        )
        x = x + y * state[p + "ls1.gamma"]
        y = F.layer_norm(x, (dim,), state[p + "norm2.weight"], state[p + "norm2.bias"], 1e-6)
        gate, up = F.linear(y, state[p + "mlp.w12.weight"], state[p + "mlp.w12.bias"]).chunk(2, dim=-1)
        y = F.linear(F.silu(gate) * up, state[p + "mlp.w3.weight"], state[p + "mlp.w3.bias"])
        x = x + y * state[p + "ls2.gamma"]
    return F.layer_norm(x, (dim,), state[d + "norm.weight"], state[d + "norm.bias"], 1e-6)


def project(state, name: str, features):
    """The release's `nn.Sequential(Linear, LayerNorm)` projectors (`visual_proj`, `qformer_proj`)."""
    x = F.linear(features, state[f"llma.{name}.0.weight"], state[f"llma.{name}.0.bias"])
    return F.layer_norm(x, (x.shape[-1],), state[f"llma.{name}.1.weight"], state[f"llma.{name}.1.bias"], 1e-5)


def image_block(state, view_tokens):
    """`[views, T, D]` -> `[start, view, end]` for each view, concatenated."""
    return torch.cat(
        [torch.cat([state["llma.start_img"][0], view, state["llma.end_img"][0]]) for view in view_tokens]
    )


def image_tokens_reference(state, image: Image.Image, grid: int) -> torch.Tensor:
    square = grid * VIEWS["convnext"]
    convnext = convnext_reference(state, release_views(image, grid, VIEWS["convnext"], square))
    dinov2 = dinov2_reference(state, release_views(image, grid, VIEWS["dinov2"], square))
    return image_block(state, project(state, "visual_proj", torch.cat([convnext, dinov2], dim=-1)))


# -- the LLM ----------------------------------------------------------------------------------------


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_interleaved(x, positions, theta):
    """Meta's rotary: consecutive pairs (2i, 2i+1) are one complex number."""
    head_dim = x.shape[-1]
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.polar(torch.ones(len(positions), head_dim // 2), torch.outer(positions.float(), freqs))
    complex_x = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(complex_x * angles[None, :, None, :]).flatten(3)


def dense_feed_forward(state, prefix: str, x):
    gate = F.silu(F.linear(x, state[prefix + "feed_forward.w1.weight"]))
    return F.linear(
        gate * F.linear(x, state[prefix + "feed_forward.w3.weight"]), state[prefix + "feed_forward.w2.weight"]
    )


def llama_reference(state, embeddings, llm=LLM, feed_forward=dense_feed_forward):
    """`[1, T, D]` input embeddings -> logits, Meta's LLaMA in plain torch."""
    h, seq = embeddings, embeddings.shape[1]
    heads, kv_heads, eps = llm["n_heads"], llm["n_kv_heads"], llm["norm_eps"]
    head_dim = llm["dim"] // heads
    positions = torch.arange(seq)
    mask = torch.full((seq, seq), float("-inf")).triu(1)
    for layer in range(llm["n_layers"]):
        p = f"llma.layers.{layer}."
        x = rms_norm(h, state[p + "attention_norm.weight"], eps)
        q = F.linear(x, state[p + "attention.wq.weight"]).view(1, seq, heads, head_dim)
        k = F.linear(x, state[p + "attention.wk.weight"]).view(1, seq, kv_heads, head_dim)
        v = F.linear(x, state[p + "attention.wv.weight"]).view(1, seq, kv_heads, head_dim)
        q, k = (
            rotate_interleaved(q, positions, llm["rope_theta"]),
            rotate_interleaved(k, positions, llm["rope_theta"]),
        )
        k, v = (t.repeat_interleave(heads // kv_heads, dim=2) for t in (k, v))
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim) + mask, dim=-1)
        h = h + F.linear((scores @ v).transpose(1, 2).reshape(1, seq, -1), state[p + "attention.wo.weight"])
        h = h + feed_forward(state, p, rms_norm(h, state[p + "ffn_norm.weight"], eps))
    return F.linear(rms_norm(h, state["llma.norm.weight"], eps), state["llma.output.weight"])


@torch.no_grad()
def reference_logits(state, image: Image.Image, text_ids: list[int], bos_id: int, grid: int) -> torch.Tensor:
    """The release's inference: `[BOS] [image block] text`, logits for every position."""
    embed = state["llma.tok_embeddings.weight"]
    sequence = torch.cat([embed[[bos_id]], image_tokens_reference(state, image, grid), embed[text_ids]])
    return llama_reference(state, sequence[None])[0]
