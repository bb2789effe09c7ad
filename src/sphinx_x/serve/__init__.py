"""The OpenAI-compatible API server (`sphinx-x serve`): HTTP only, the generation is the engine's.

limits.py       what the operator allows: sizes, counts, tokens, queue, remote and local media
schema.py       the chat-completions request, validated
errors.py       OpenAI's error JSON, one status per kind of mistake
prompt.py       messages -> template turns, system text and image references (no I/O yet)
media.py        an `image_url` -> image bytes: data: URLs, allowed hosts, the allowed folder
remote.py       fetching an allowed http(s) URL without reaching private addresses
grounding.py    boxes and points of an answer, in the original image's pixels
completions.py  POST /v1/chat/completions: prepare, submit to the engine, answer or stream
middleware.py   the API key and the body limit, before any route
metrics.py      Prometheus text: queue, running requests, tokens/s, responses by status
app.py          the FastAPI app: routes and what wraps them
server.py       load a model, build the engine and the app, run uvicorn
"""
