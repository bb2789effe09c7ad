"""Tiny four-expert SPHINX releases (SPHINX v1 / 1k: `llama_ens*`; SPHINX-MoE / MoE-1k:
`mixtral_sparse_ens*`) in the release's key layout, and their forward pass written from the facts.

As in release_reference.py, nothing here uses sphinx-x or transformers models: the Q-Former is
BLIP-2's EVA ViT + BERT-style Q-Former written out under transformers' `Blip2Model` names (which
the release stores), CLIP is open_clip's ViT under its own names (text-tower leftovers included),
and the sparse Mixtral reads the release's bare `feed_forward.w1/w2/w3` `[E * I, D]` tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from .release_reference import (
    CONVNEXT,
    LLM,
    Random,
    attention,
    convnext_reference,
    convnext_state,
    dense_feed_forward,
    dinov2_reference,
    dinov2_state,
    image_block,
    llama_reference,
    llama_state,
    nearest_like_the_release,
    project,
    release_views,
)

PATCH, SMALL_VIEW = 3, 12  # the "224" views: 4 x 4 patches of 3 (ViT-L/14 at 224: 16 x 16 of 14)
SIDE = SMALL_VIEW // PATCH
CONVNEXT_STRIDE = CONVNEXT["patch"] * 2  # two stages
CLIP = {"dim": 128, "layers": 2, "mlp": 256, "text_width": 32, "embed": 24}  # 2 heads of 64
EVA = {"dim": 176, "layers": 2, "mlp": 192}  # the Q-Former's vision tower: 2 heads of 88
QFORMER = {"dim": 128, "layers": 3, "mlp": 160, "queries": 4, "frequency": 2}  # 2 heads of 64
DINOV2_TRAINED_SIDE = 6
MIXTRAL = LLM | {"experts": 4, "top_k": 2, "expert_ffn": 32, "rope_theta": 1e6}
LAYOUTS = {  # llama_type -> (grid, LLM, ConvNeXt on the small views)
    "llama_ens": (1, "llama", True),
    "llama_ens5": (2, "llama", True),
    "mixtral_sparse_ens": (1, "mixtral", False),
    "mixtral_sparse_ens5": (2, "mixtral", False),
}


def clip_state(rand: Random) -> dict[str, torch.Tensor]:
    """open_clip ViT under `llma.clip.visual.*`, with the text leftovers the release keeps."""
    c, dim = "llma.clip.", CLIP["dim"]
    state = {c + "visual.conv1.weight": rand(dim, 3, PATCH, PATCH), c + "visual.class_embedding": rand(dim)}
    state[c + "visual.positional_embedding"] = rand(SIDE * SIDE + 1, dim)
    state[c + "visual.ln_pre.weight"], state[c + "visual.ln_pre.bias"] = rand.norm(dim)
    for b in range(CLIP["layers"]):
        p = f"{c}visual.transformer.resblocks.{b}."
        state[p + "ln_1.weight"], state[p + "ln_1.bias"] = rand.norm(dim)
        state[p + "attn.in_proj_weight"], state[p + "attn.in_proj_bias"] = rand(3 * dim, dim), rand(3 * dim)
        state[p + "attn.out_proj.weight"], state[p + "attn.out_proj.bias"] = rand(dim, dim), rand(dim)
        state[p + "ln_2.weight"], state[p + "ln_2.bias"] = rand.norm(dim)
        state[p + "mlp.c_fc.weight"], state[p + "mlp.c_fc.bias"] = rand(CLIP["mlp"], dim), rand(CLIP["mlp"])
        state[p + "mlp.c_proj.weight"], state[p + "mlp.c_proj.bias"] = rand(dim, CLIP["mlp"]), rand(dim)
    state[c + "visual.ln_post.weight"], state[c + "visual.ln_post.bias"] = rand.norm(dim)
    state[c + "visual.proj"] = rand(dim, CLIP["embed"])
    width = CLIP["text_width"]
    state |= {c + "token_embedding.weight": rand(50, width), c + "positional_embedding": rand(16, width)}
    state[c + "ln_final.weight"], state[c + "ln_final.bias"] = rand.norm(width)
    state |= {c + "text_projection": rand(width, CLIP["embed"]), c + "logit_scale": torch.tensor(4.6)}
    return state


def qformer_state(rand: Random) -> dict[str, torch.Tensor]:
    """BLIP-2's vision tower + Q-Former under `llma.qformer.` and transformers' `Blip2Model` names.
    The layers also carry the text-path feed-forward older transformers versions built."""
    v, dim = "llma.qformer.vision_model.", EVA["dim"]
    state = {v + "embeddings.class_embedding": rand(1, 1, dim)}
    state[v + "embeddings.patch_embedding.weight"] = rand(dim, 3, PATCH, PATCH)
    state[v + "embeddings.patch_embedding.bias"] = rand(dim)
    state[v + "embeddings.position_embedding"] = rand(1, SIDE * SIDE + 1, dim)
    for b in range(EVA["layers"]):
        p = f"{v}encoder.layers.{b}."
        state[p + "layer_norm1.weight"], state[p + "layer_norm1.bias"] = rand.norm(dim)
        state[p + "self_attn.qkv.weight"] = rand(3 * dim, dim)
        state[p + "self_attn.qkv.bias"] = torch.cat([rand(dim), torch.zeros(dim), rand(dim)])  # q, (no k), v
        state[p + "self_attn.projection.weight"], state[p + "self_attn.projection.bias"] = (
            rand(dim, dim),
            rand(dim),
        )
        state[p + "layer_norm2.weight"], state[p + "layer_norm2.bias"] = rand.norm(dim)
        state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"] = rand(EVA["mlp"], dim), rand(EVA["mlp"])
        state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"] = rand(dim, EVA["mlp"]), rand(dim)
    state[v + "post_layernorm.weight"], state[v + "post_layernorm.bias"] = rand.norm(dim)
    q, hidden, mlp = "llma.qformer.qformer.", QFORMER["dim"], QFORMER["mlp"]
    state["llma.qformer.query_tokens"] = rand(1, QFORMER["queries"], hidden, scale=1.0)
    state[q + "layernorm.weight"], state[q + "layernorm.bias"] = rand.norm(hidden)

    def attention_block(prefix: str, source: int):
        for part, width in (("query", hidden), ("key", source), ("value", source)):
            state[f"{prefix}.attention.{part}.weight"], state[f"{prefix}.attention.{part}.bias"] = (
                rand(hidden, width),
                rand(hidden),
            )
        state[f"{prefix}.output.dense.weight"], state[f"{prefix}.output.dense.bias"] = (
            rand(hidden, hidden),
            rand(hidden),
        )
        state[f"{prefix}.output.LayerNorm.weight"], state[f"{prefix}.output.LayerNorm.bias"] = rand.norm(
            hidden
        )

    for layer in range(QFORMER["layers"]):
        p = f"{q}encoder.layer.{layer}."
        attention_block(p + "attention", hidden)
        if layer % QFORMER["frequency"] == 0:
            attention_block(p + "crossattention", dim)
        for path in ("", "_query"):  # "": the unused text path
            state[f"{p}intermediate{path}.dense.weight"] = rand(mlp, hidden)
            state[f"{p}intermediate{path}.dense.bias"] = rand(mlp)
            state[f"{p}output{path}.dense.weight"], state[f"{p}output{path}.dense.bias"] = (
                rand(hidden, mlp),
                rand(hidden),
            )
            state[f"{p}output{path}.LayerNorm.weight"], state[f"{p}output{path}.LayerNorm.bias"] = rand.norm(
                hidden
            )
    return state


def sparse_experts_state(rand: Random) -> dict[str, torch.Tensor]:
    """The release's MoE layers: bare `[E * I, D]` tensors laid out (expert, hidden, dim)."""
    experts, hidden, dim = MIXTRAL["experts"], MIXTRAL["expert_ffn"], MIXTRAL["dim"]
    state = {}
    for layer in range(MIXTRAL["n_layers"]):
        p = f"llma.layers.{layer}.feed_forward."
        state[p + "w1"], state[p + "w2"], state[p + "w3"] = (rand(experts * hidden, dim) for _ in range(3))
        state[p + "gate.weight"] = rand(experts, dim, scale=1.0)
    return state


def four_expert_state(vocab_size: int, llm: str, seed: int = 0) -> dict[str, torch.Tensor]:
    rand = Random(seed)
    state = (
        qformer_state(rand)
        | clip_state(rand)
        | convnext_state(rand)
        | dinov2_state(rand, PATCH, DINOV2_TRAINED_SIDE)
    )
    fused = CLIP["dim"] + CONVNEXT["dims"][-1] + 128
    state |= {f"llma.visual_proj.{k}": v for k, v in _projector(rand, fused).items()}
    state |= {f"llma.qformer_proj.{k}": v for k, v in _projector(rand, QFORMER["dim"]).items()}
    state |= llama_state(rand, vocab_size, dense_ffn=llm == "llama")
    return state | (sparse_experts_state(rand) if llm == "mixtral" else {})


def _projector(rand: Random, features: int) -> dict[str, torch.Tensor]:
    weight, bias = rand.norm(LLM["dim"])
    return {
        "0.weight": rand(LLM["dim"], features),
        "0.bias": rand(LLM["dim"]),
        "1.weight": weight,
        "1.bias": bias,
    }


def release_args(llm: str) -> dict:
    """The LLM's ModelArgs as the release writes config.json."""
    args = {k: LLM[k] for k in ("dim", "n_layers", "n_heads", "n_kv_heads", "norm_eps", "rope_theta")}
    if llm == "mixtral":
        args |= {"rope_theta": MIXTRAL["rope_theta"], "hidden_dim": MIXTRAL["expert_ffn"],
                 "moe": {"num_experts": MIXTRAL["experts"], "num_experts_per_tok": MIXTRAL["top_k"]},
                 "load_balancing_weight": 0.0}  # fmt: skip
    return args


# -- the reference forward pass ---------------------------------------------------------------


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def clip_reference(state, x, activation=F.gelu):
    """The release's `clip_encode_image`: all tokens through `ln_post`, no projection."""
    c, dim = "llma.clip.visual.", CLIP["dim"]
    x = F.conv2d(x, state[c + "conv1.weight"], stride=PATCH).flatten(2).transpose(1, 2)
    x = (
        torch.cat([state[c + "class_embedding"].expand(x.shape[0], 1, -1), x], dim=1)
        + state[c + "positional_embedding"]
    )
    x = F.layer_norm(x, (dim,), state[c + "ln_pre.weight"], state[c + "ln_pre.bias"], 1e-5)
    for b in range(CLIP["layers"]):
        p = f"{c}transformer.resblocks.{b}."
        y = F.layer_norm(x, (dim,), state[p + "ln_1.weight"], state[p + "ln_1.bias"], 1e-5)
        q, k, v = F.linear(y, state[p + "attn.in_proj_weight"], state[p + "attn.in_proj_bias"]).chunk(
            3, dim=-1
        )
        x = x + F.linear(
            attention(q, k, v, dim // 64), state[p + "attn.out_proj.weight"], state[p + "attn.out_proj.bias"]
        )
        y = F.layer_norm(x, (dim,), state[p + "ln_2.weight"], state[p + "ln_2.bias"], 1e-5)
        y = activation(F.linear(y, state[p + "mlp.c_fc.weight"], state[p + "mlp.c_fc.bias"]))
        x = x + F.linear(y, state[p + "mlp.c_proj.weight"], state[p + "mlp.c_proj.bias"])
    return F.layer_norm(x, (dim,), state[c + "ln_post.weight"], state[c + "ln_post.bias"], 1e-5)


def linear(state, prefix, x):
    return F.linear(x, state[prefix + ".weight"], state[prefix + ".bias"])


def layer_norm(state, prefix, x, eps):
    return F.layer_norm(x, (x.shape[-1],), state[prefix + ".weight"], state[prefix + ".bias"], eps)


def eva_reference(state, x):
    """BLIP-2's EVA ViT: pre-LN blocks with a packed qkv (no key bias), then its post-LayerNorm."""
    v, dim = "llma.qformer.vision_model.", EVA["dim"]
    patches = F.conv2d(x, state[v + "embeddings.patch_embedding.weight"], state[v + "embeddings.patch_embedding.bias"],
                       stride=PATCH)  # fmt: skip
    x = patches.flatten(2).transpose(1, 2)
    x = torch.cat([state[v + "embeddings.class_embedding"].expand(x.shape[0], 1, -1), x], dim=1)
    x = x + state[v + "embeddings.position_embedding"]
    for b in range(EVA["layers"]):
        p = f"{v}encoder.layers.{b}."
        q, k, value = linear(state, p + "self_attn.qkv", layer_norm(state, p + "layer_norm1", x, 1e-6)).chunk(
            3, dim=-1
        )
        x = x + linear(state, p + "self_attn.projection", attention(q, k, value, dim // 88))
        y = F.gelu(linear(state, p + "mlp.fc1", layer_norm(state, p + "layer_norm2", x, 1e-6)))
        x = x + linear(state, p + "mlp.fc2", y)
    return layer_norm(state, v + "post_layernorm", x, 1e-6)


def bert_attention(state, prefix, hidden, source):
    """Post-LN BERT attention block: LayerNorm(hidden + dense(attention(hidden -> source)))."""
    q = linear(state, prefix + ".attention.query", hidden)
    k, v = (
        linear(state, prefix + ".attention.key", source),
        linear(state, prefix + ".attention.value", source),
    )
    out = linear(state, prefix + ".output.dense", attention(q, k, v, QFORMER["dim"] // 64))
    return layer_norm(state, prefix + ".output.LayerNorm", out + hidden, 1e-12)


def qformer_reference(state, x):
    """`Blip2Model.get_qformer_features(x).last_hidden_state`: the query tokens, LayerNorm, then per
    layer self-attention, cross-attention to the image every `frequency` layers, the query FFN."""
    image = eva_reference(state, x)
    q = "llma.qformer.qformer."
    hidden = layer_norm(
        state, q + "layernorm", state["llma.qformer.query_tokens"].expand(x.shape[0], -1, -1), 1e-12
    )
    for layer in range(QFORMER["layers"]):
        p = f"{q}encoder.layer.{layer}."
        hidden = bert_attention(state, p + "attention", hidden, hidden)
        if layer % QFORMER["frequency"] == 0:
            hidden = bert_attention(state, p + "crossattention", hidden, image)
        y = linear(
            state, p + "output_query.dense", F.gelu(linear(state, p + "intermediate_query.dense", hidden))
        )
        hidden = layer_norm(state, p + "output_query.LayerNorm", y + hidden, 1e-12)
    return hidden


def sparse_feed_forward(state, prefix: str, x):
    """Mixtral's MoE as the release computes it: softmax over the experts in float32, top-k, the
    top-k weights renormalised to sum 1, each chosen expert a SwiGLU of its (expert, hidden, dim) rows."""
    experts, top_k, dim = MIXTRAL["experts"], MIXTRAL["top_k"], x.shape[-1]
    tokens = x.reshape(-1, dim)
    probabilities = torch.softmax(
        tokens @ state[prefix + "feed_forward.gate.weight"].T, dim=-1, dtype=torch.float32
    )
    weights, chosen = torch.topk(probabilities, top_k, dim=-1)
    weights = weights / weights.sum(dim=-1, keepdim=True)
    w1, w2, w3 = (state[prefix + f"feed_forward.w{i}"].view(experts, -1, dim) for i in (1, 2, 3))
    hidden = F.silu(torch.einsum("td,ehd->teh", tokens, w1)) * torch.einsum("td,ehd->teh", tokens, w3)
    every = torch.einsum("teh,ehd->ted", hidden, w2)  # [tokens, experts, dim]
    picked = every.gather(1, chosen[..., None].expand(-1, -1, dim))  # [tokens, top_k, dim]
    return (picked * weights[..., None]).sum(dim=1).reshape(x.shape)


def image_tokens_reference(
    state, image: Image.Image, llama_type: str, clip_activation=F.gelu
) -> torch.Tensor:
    grid, _, convnext_on_small_views = LAYOUTS[llama_type]
    convnext_view = SMALL_VIEW if convnext_on_small_views else SIDE * CONVNEXT_STRIDE
    square = grid * convnext_view  # the largest view: 12 (v1) or 32 (MoE) per grid cell
    small = release_views(image, grid, SMALL_VIEW, square)
    if convnext_on_small_views:  # v1: each small view nearest-resized in float16, the map repeated 2x2
        convnext = convnext_reference(
            state, nearest_like_the_release(small, SIDE // 2 * CONVNEXT_STRIDE), repeat=2
        )
    else:
        convnext = convnext_reference(state, release_views(image, grid, convnext_view, square))
    dinov2 = dinov2_reference(state, small, patch=PATCH, trained_side=DINOV2_TRAINED_SIDE)
    fused = project(
        state, "visual_proj", torch.cat([clip_reference(state, small, clip_activation), convnext, dinov2], -1)
    )
    queries = project(state, "qformer_proj", qformer_reference(state, small))
    return image_block(state, torch.cat([queries, fused], dim=1))


@torch.no_grad()
def reference_logits(
    state, image: Image.Image, text_ids: list[int], bos_id: int, llama_type: str, clip_activation=F.gelu
) -> torch.Tensor:
    """The release's inference: `[BOS] [image block] text`, logits for every position."""
    _, llm, _ = LAYOUTS[llama_type]
    embed = state["llma.tok_embeddings.weight"]
    image_tokens = image_tokens_reference(state, image, llama_type, clip_activation)
    sequence = torch.cat([embed[[bos_id]], image_tokens, embed[text_ids]])[None]
    if llm == "mixtral":
        return llama_reference(state, sequence, MIXTRAL, sparse_feed_forward)[0]
    return llama_reference(state, sequence, LLM, dense_feed_forward)[0]
