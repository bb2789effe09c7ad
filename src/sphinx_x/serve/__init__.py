"""The OpenAI-compatible API server (`sphinx-x serve`): HTTP only, the generation is the engine's.

limits.py     what the operator allows: sizes, counts, tokens, queue, remote and local media
schema.py     the chat-completions request, validated
errors.py     OpenAI's error JSON, one status per kind of mistake
media.py      an `image_url` -> image bytes: data: URLs, allowed hosts, the allowed folder
remote.py     fetching an allowed http(s) URL without reaching private addresses
prompt.py     messages + image -> the engine's request (token ids and visual inputs)
grounding.py  boxes and points of an answer, in the original image's pixels
metrics.py    Prometheus text: queue, running requests, tokens/s, responses by status
app.py        the FastAPI app: routes, API key, body limit, streaming, cancellation
"""
