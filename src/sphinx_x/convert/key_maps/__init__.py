"""The weight formats SPHINX checkpoints come in, mapped to the transformers modules we compose.

Each map takes one source name and tensor and returns the `(name, tensor)` pairs it becomes (`[]`
for a known key the model does not use), or None when the name is not part of that format. They
work on meta tensors too, so a converter can check every name and shape before it reads a byte of
weights. The `*_config` functions read the architecture off the shapes (names without any prefix).

    convnext.py    timm ConvNeXt (open_clip's trunk)     -> ConvNextModel
    dinov2.py      DINOv2 torch-hub                       -> Dinov2Model
    clip_vit.py    open_clip ViT (OpenAI CLIP)            -> CLIPVisionModel
    qformer.py     BLIP-2 vision tower + Q-Former         -> Blip2VisionModel, Blip2QFormerModel
    llama.py       Meta LLaMA, the release's sparse MoE   -> LlamaForCausalLM, MixtralForCausalLM
    internlm2.py   InternLM2 (packed wqkv)                -> LlamaForCausalLM
"""

from .clip_vit import open_clip_vit_config, open_clip_vit_to_hf
from .common import Pairs, Shapes, count_indices, renamed
from .convnext import convnext_timm_config, convnext_timm_to_hf
from .dinov2 import DINOV2_HEAD_DIM, dinov2_hub_config, dinov2_hub_to_hf
from .internlm2 import internlm2_to_llama
from .llama import interleaved_to_half_rotary, llama_meta_to_hf, mixtral_sparse_to_hf
from .qformer import blip2_qformer_config, blip2_qformer_to_hf

__all__ = [
    "DINOV2_HEAD_DIM",
    "Pairs",
    "Shapes",
    "blip2_qformer_config",
    "blip2_qformer_to_hf",
    "convnext_timm_config",
    "convnext_timm_to_hf",
    "count_indices",
    "dinov2_hub_config",
    "dinov2_hub_to_hf",
    "interleaved_to_half_rotary",
    "internlm2_to_llama",
    "llama_meta_to_hf",
    "mixtral_sparse_to_hf",
    "open_clip_vit_config",
    "open_clip_vit_to_hf",
    "renamed",
]
