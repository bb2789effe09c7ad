"""A tiny SPHINX release in the release's own format, and its forward pass written from the facts.

Nothing here uses sphinx-x or transformers models: the reference reads the release's key names
directly (timm ConvNeXt, DINOv2 hub, Meta LLaMA with interleaved rotary pairs), so agreeing with it
checks the converter's key map, the rotary permutation, the view extraction and the token layout.
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
DINOV2_HIDDEN = (int(128 * 4 * 2 / 3) + 7) // 8 * 8  # SwiGLU hidden, as the hub computes it
VIEWS = {"convnext_view_size": 32, "dinov2_view_size": 16}
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
DINO_MEAN, DINO_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


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


def release_state(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the release's key names and (scaled) shapes."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.1):
        return torch.randn(*shape, generator=generator) * scale

    def norm(size):
        return 1 + rand(size), rand(size)

    state = {}
    c = "llma.openclip_convnext_xxl."
    dims = CONVNEXT["dims"]
    state[c + "stem.0.weight"], state[c + "stem.0.bias"] = rand(dims[0], 3, 4, 4), rand(dims[0])
    state[c + "stem.1.weight"], state[c + "stem.1.bias"] = norm(dims[0])
    for s, (dim, depth) in enumerate(zip(dims, CONVNEXT["depths"], strict=True)):
        if s > 0:
            state[f"{c}stages.{s}.downsample.0.weight"], state[f"{c}stages.{s}.downsample.0.bias"] = norm(
                dims[s - 1]
            )
            state[f"{c}stages.{s}.downsample.1.weight"] = rand(dim, dims[s - 1], 2, 2)
            state[f"{c}stages.{s}.downsample.1.bias"] = rand(dim)
        for b in range(depth):
            p = f"{c}stages.{s}.blocks.{b}."
            state[p + "conv_dw.weight"], state[p + "conv_dw.bias"] = rand(dim, 1, 7, 7), rand(dim)
            state[p + "norm.weight"], state[p + "norm.bias"] = norm(dim)
            state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"] = rand(4 * dim, dim), rand(4 * dim)
            state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"] = rand(dim, 4 * dim), rand(dim)
            state[p + "gamma"] = 0.5 + rand(dim)
    state[c + "head.norm.weight"], state[c + "head.norm.bias"] = norm(dims[-1])

    d = "llma.dinov2_vitg14."
    dim, side = DINOV2["dim"], DINOV2["trained_side"]
    state[d + "cls_token"], state[d + "mask_token"] = rand(1, 1, dim), torch.zeros(1, dim)
    state[d + "pos_embed"] = rand(1, 1 + side * side, dim)
    state[d + "patch_embed.proj.weight"], state[d + "patch_embed.proj.bias"] = rand(dim, 3, 4, 4), rand(dim)
    for b in range(DINOV2["depth"]):
        p = f"{d}blocks.{b}."
        state[p + "norm1.weight"], state[p + "norm1.bias"] = norm(dim)
        state[p + "attn.qkv.weight"], state[p + "attn.qkv.bias"] = rand(3 * dim, dim), rand(3 * dim)
        state[p + "attn.proj.weight"], state[p + "attn.proj.bias"] = rand(dim, dim), rand(dim)
        state[p + "ls1.gamma"] = 0.5 + rand(dim)
        state[p + "norm2.weight"], state[p + "norm2.bias"] = norm(dim)
        state[p + "mlp.w12.weight"], state[p + "mlp.w12.bias"] = (
            rand(2 * DINOV2_HIDDEN, dim),
            rand(2 * DINOV2_HIDDEN),
        )
        state[p + "mlp.w3.weight"], state[p + "mlp.w3.bias"] = rand(dim, DINOV2_HIDDEN), rand(dim)
        state[p + "ls2.gamma"] = 0.5 + rand(dim)
    state[d + "norm.weight"], state[d + "norm.bias"] = norm(dim)

    hidden, head_dim = LLM["dim"], LLM["dim"] // LLM["n_heads"]
    state["llma.visual_proj.0.weight"] = rand(hidden, dims[-1] + dim)
    state["llma.visual_proj.0.bias"] = rand(hidden)
    state["llma.visual_proj.1.weight"], state["llma.visual_proj.1.bias"] = norm(hidden)
    state["llma.start_img"], state["llma.end_img"] = rand(1, 1, hidden), rand(1, 1, hidden)
    state["llma.tok_embeddings.weight"] = rand(vocab_size, hidden, scale=1.0)
    for layer in range(LLM["n_layers"]):
        p = f"llma.layers.{layer}."
        state[p + "attention.wq.weight"] = rand(LLM["n_heads"] * head_dim, hidden, scale=0.3)
        state[p + "attention.wk.weight"] = rand(LLM["n_kv_heads"] * head_dim, hidden, scale=0.3)
        state[p + "attention.wv.weight"] = rand(LLM["n_kv_heads"] * head_dim, hidden)
        state[p + "attention.wo.weight"] = rand(hidden, LLM["n_heads"] * head_dim)
        state[p + "feed_forward.w1.weight"] = rand(LLM["ffn"], hidden)
        state[p + "feed_forward.w2.weight"] = rand(hidden, LLM["ffn"])
        state[p + "feed_forward.w3.weight"] = rand(LLM["ffn"], hidden)
        state[p + "attention_norm.weight"], _ = norm(hidden)
        state[p + "ffn_norm.weight"], _ = norm(hidden)
    state["llma.norm.weight"], _ = norm(hidden)
    state["llma.output.weight"] = rand(vocab_size, hidden)
    return state


def split_for_tensor_parallel(state: dict[str, torch.Tensor], parts: int) -> list[dict[str, torch.Tensor]]:
    """The release's Megatron-style split, written out independently of the converter."""

    def dim_of(name):
        if name == "llma.tok_embeddings.weight":
            return 1
        if name.startswith("llma.layers.") and name.endswith(("wo.weight", "w2.weight")):
            return 1
        if name == "llma.output.weight" or (name.startswith("llma.layers.") and name.endswith(
            ("wq.weight", "wk.weight", "wv.weight", "w1.weight", "w3.weight"))):  # fmt: skip
            return 0
        return None

    shards = [{} for _ in range(parts)]
    for name, tensor in state.items():
        dim = dim_of(name)
        pieces = tensor.chunk(parts, dim=dim) if dim is not None else [tensor] * parts
        for shard, piece in zip(shards, pieces, strict=True):
            shard[name] = piece.clone()
    return shards


def write_release(
    folder: Path, state, tokenizer_model: Path, parts: int = 1, llama_type: str = "llama_ens5_light"
):
    folder.mkdir(parents=True, exist_ok=True)
    for index, shard in enumerate(split_for_tensor_parallel(state, parts)):
        torch.save({"model": shard}, folder / f"consolidated.{index:02d}-of-{parts:02d}.model.pth")
    args = {k: LLM[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "norm_eps", "rope_theta")}
    (folder / "config.json").write_text(json.dumps(args | {"vocab_size": -1, "max_seq_len": 2048}))
    (folder / "meta.json").write_text(json.dumps({"llama_type": llama_type}))
    (folder / "tokenizer.model").write_bytes(tokenizer_model.read_bytes())
    return folder


# -- the reference forward pass ----------------------------------------------------------------


def release_views(image: Image.Image, grid: int, view: int, square_side: int) -> torch.Tensor:
    """Pad centred with int(255 * CLIP mean), bicubic to the square, CLIP-normalise, cut the views."""
    width, height = image.size
    side = max(width, height)
    padded = Image.new("RGB", (side, side), tuple(int(255 * m) for m in CLIP_MEAN))
    padded.paste(image, ((side - width) // 2, (side - height) // 2))
    pixels = torch.from_numpy(
        np.asarray(padded.resize((square_side, square_side), Image.BICUBIC), dtype=np.float32) / 255
    )
    pixels = (pixels.permute(2, 0, 1) - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(
        3, 1, 1
    )
    pixels = pixels[None]

    def resized(size):
        return (
            pixels
            if size == square_side
            else F.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=False)
        )

    views = [resized(view)]
    if grid > 1:
        fine = resized(grid * view)
        views += [
            fine[..., r * view : (r + 1) * view, c * view : (c + 1) * view]
            for r in range(grid)
            for c in range(grid)
        ]
    return torch.cat(views)


def layer_norm_2d(x, weight, bias, eps):
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps).permute(0, 3, 1, 2)


def convnext_reference(state, x):
    c = "llma.openclip_convnext_xxl."
    x = F.conv2d(x, state[c + "stem.0.weight"], state[c + "stem.0.bias"], stride=CONVNEXT["patch"])
    x = layer_norm_2d(x, state[c + "stem.1.weight"], state[c + "stem.1.bias"], 1e-5)
    for s, depth in enumerate(CONVNEXT["depths"]):
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
    tokens = x.flatten(2).transpose(1, 2)
    return torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)


def dinov2_reference(state, x):
    d = "llma.dinov2_vitg14."
    x = x * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    x = (x - torch.tensor(DINO_MEAN).view(1, 3, 1, 1)) / torch.tensor(DINO_STD).view(1, 3, 1, 1)
    size = x.shape[-1] // DINOV2["patch"]
    x = F.conv2d(
        x, state[d + "patch_embed.proj.weight"], state[d + "patch_embed.proj.bias"], stride=DINOV2["patch"]
    )
    x = torch.cat([state[d + "cls_token"].expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
    pos = state[d + "pos_embed"]
    side = DINOV2["trained_side"]
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    scale = (size + 0.1) / side
    grid = F.interpolate(grid, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    x = x + torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, size * size, -1)], dim=1)
    heads, dim = DINOV2["dim"] // 64, DINOV2["dim"]
    for b in range(DINOV2["depth"]):
        p = f"{d}blocks.{b}."
        y = F.layer_norm(x, (dim,), state[p + "norm1.weight"], state[p + "norm1.bias"], 1e-6)
        qkv = F.linear(y, state[p + "attn.qkv.weight"], state[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(x.shape[0], x.shape[1], 3, heads, 64).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(64), dim=-1) @ v
        y = F.linear(
            attention.transpose(1, 2).reshape(x.shape),
            state[p + "attn.proj.weight"],
            state[p + "attn.proj.bias"],
        )
        x = x + y * state[p + "ls1.gamma"]
        y = F.layer_norm(x, (dim,), state[p + "norm2.weight"], state[p + "norm2.bias"], 1e-6)
        gate, up = F.linear(y, state[p + "mlp.w12.weight"], state[p + "mlp.w12.bias"]).chunk(2, dim=-1)
        x = (
            x
            + F.linear(F.silu(gate) * up, state[p + "mlp.w3.weight"], state[p + "mlp.w3.bias"])
            * state[p + "ls2.gamma"]
        )
    return F.layer_norm(x, (dim,), state[d + "norm.weight"], state[d + "norm.bias"], 1e-6)


def image_tokens_reference(state, image: Image.Image, grid: int) -> torch.Tensor:
    square = grid * VIEWS["convnext_view_size"]
    convnext = convnext_reference(state, release_views(image, grid, VIEWS["convnext_view_size"], square))
    dinov2 = dinov2_reference(state, release_views(image, grid, VIEWS["dinov2_view_size"], square))
    projected = F.linear(
        torch.cat([convnext, dinov2], dim=-1),
        state["llma.visual_proj.0.weight"],
        state["llma.visual_proj.0.bias"],
    )
    projected = F.layer_norm(
        projected, (LLM["dim"],), state["llma.visual_proj.1.weight"], state["llma.visual_proj.1.bias"], 1e-5
    )
    blocks = [torch.cat([state["llma.start_img"][0], view, state["llma.end_img"][0]]) for view in projected]
    return torch.cat(blocks)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_interleaved(x, positions, theta):
    """Meta's rotary: consecutive pairs (2i, 2i+1) are one complex number."""
    head_dim = x.shape[-1]
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.polar(torch.ones(len(positions), head_dim // 2), torch.outer(positions.float(), freqs))
    complex_x = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(complex_x * angles[None, :, None, :]).flatten(3)


def llama_reference(state, embeddings):
    """`[1, T, D]` input embeddings -> logits, Meta's LLaMA in plain torch."""
    h, seq = embeddings, embeddings.shape[1]
    heads, kv_heads, eps = LLM["n_heads"], LLM["n_kv_heads"], LLM["norm_eps"]
    head_dim = LLM["dim"] // heads
    positions = torch.arange(seq)
    mask = torch.full((seq, seq), float("-inf")).triu(1)
    for layer in range(LLM["n_layers"]):
        p = f"llma.layers.{layer}."
        x = rms_norm(h, state[p + "attention_norm.weight"], eps)
        q = F.linear(x, state[p + "attention.wq.weight"]).view(1, seq, heads, head_dim)
        k = F.linear(x, state[p + "attention.wk.weight"]).view(1, seq, kv_heads, head_dim)
        v = F.linear(x, state[p + "attention.wv.weight"]).view(1, seq, kv_heads, head_dim)
        q, k = (
            rotate_interleaved(q, positions, LLM["rope_theta"]),
            rotate_interleaved(k, positions, LLM["rope_theta"]),
        )
        k, v = (t.repeat_interleave(heads // kv_heads, dim=2) for t in (k, v))
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim) + mask, dim=-1)
        h = h + F.linear((scores @ v).transpose(1, 2).reshape(1, seq, -1), state[p + "attention.wo.weight"])
        x = rms_norm(h, state[p + "ffn_norm.weight"], eps)
        ffn = F.silu(F.linear(x, state[p + "feed_forward.w1.weight"])) * F.linear(
            x, state[p + "feed_forward.w3.weight"]
        )
        h = h + F.linear(ffn, state[p + "feed_forward.w2.weight"])
    return F.linear(rms_norm(h, state["llma.norm.weight"], eps), state["llma.output.weight"])


@torch.no_grad()
def reference_logits(state, image: Image.Image, text_ids: list[int], bos_id: int, grid: int) -> torch.Tensor:
    """The release's inference: `[BOS] [image block] text`, logits for every position."""
    embed = state["llma.tok_embeddings.weight"]
    sequence = torch.cat([embed[[bos_id]], image_tokens_reference(state, image, grid), embed[text_ids]])
    return llama_reference(state, sequence[None])[0]
