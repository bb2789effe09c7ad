"""The server, end to end: the official `openai` client against a real uvicorn on 127.0.0.1."""

import base64
import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from PIL import Image

from sphinx_x.serve.limits import ServerLimits

from ..conftest import shapes_image
from .conftest import data_url, png_header_only, running_server, teach_answer

MODEL = "toy-model"
LONG_QUESTION = "Explain the image."  # the random toy model's greedy answer to it runs past 1500 tokens
CLIENT_TIMEOUT = 60


def client_for(base, api_key="none"):
    return openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0, timeout=CLIENT_TIMEOUT)


def ask(question, image=None):
    content = [{"type": "text", "text": question}]
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": data_url(image)}})
    return [{"role": "user", "content": content}]


def post(base, body, **kwargs):
    return httpx.post(f"{base}/v1/chat/completions", json=body, timeout=CLIENT_TIMEOUT, **kwargs)


def error_of(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def metric(base, name, headers=None):
    for line in httpx.get(f"{base}/metrics", headers=headers, timeout=CLIENT_TIMEOUT).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(loaded_toy):
    model, processor = loaded_toy
    with running_server(model, processor, ServerLimits(max_tokens=4096, max_running=8)) as base:
        yield base


# -- chat -----------------------------------------------------------------------------------------


def test_chat_with_and_without_an_image(server, loaded_toy):
    _, processor = loaded_toy
    client = client_for(server)
    image = shapes_image(96, 48)
    for messages, expected in [
        (
            ask("Say hi."),
            processor.encode([{"role": "user", "content": "Say hi."}], add_generation_prompt=True),
        ),
        (
            ask("What is it?", image),
            processor.encode([{"role": "user", "content": "What is it?"}], image, True),
        ),
    ]:
        reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=6, temperature=0)
        choice = reply.choices[0]
        assert (
            reply.object == "chat.completion" and reply.model == MODEL and choice.message.role == "assistant"
        )
        assert isinstance(choice.message.content, str) and choice.finish_reason in ("stop", "length")
        assert reply.usage.prompt_tokens == len(expected.input_ids)  # the visual tokens included
        assert reply.usage.prompt_tokens_details.image_tokens == expected.num_visual
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert expected.num_visual > 0 and choice.message.grounding == []  # an image, no boxes in the answer


def test_streaming_gives_the_same_answer_in_chunks_then_done(server):
    client = client_for(server)
    image = shapes_image(40, 80)
    whole = client.chat.completions.create(
        model=MODEL, messages=ask(LONG_QUESTION, image), max_tokens=20, temperature=0
    )
    chunks = list(client.chat.completions.create(model=MODEL, messages=ask(LONG_QUESTION, image), max_tokens=20,
                                                 temperature=0, stream=True, stream_options={"include_usage": True}))  # fmt: skip
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content and len(chunks) > 3
    assert chunks[-2].choices[0].finish_reason == "length" and chunks[-1].choices == []
    assert (
        chunks[-1].usage.completion_tokens == 20
        and chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    )
    raw = post(server, {"model": MODEL, "messages": ask("Say hi."), "max_tokens": 3, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_the_same_seeded_request_gives_the_same_answer(server):
    client = client_for(server)
    for temperature in (0, 1.0):
        answers = {
            client.chat.completions.create(model=MODEL, messages=ask("Tell me more."), max_tokens=12,
                                           temperature=temperature, seed=11).choices[0].message.content
            for _ in range(2)
        }  # fmt: skip
        assert len(answers) == 1


def test_a_stop_sequence_ends_the_answer(server):
    client = client_for(server)
    full = client.chat.completions.create(
        model=MODEL, messages=ask(LONG_QUESTION), max_tokens=30, temperature=0
    )
    text = full.choices[0].message.content
    stop = text[len(text) // 2 :][:2]
    cut = client.chat.completions.create(model=MODEL, messages=ask(LONG_QUESTION), max_tokens=30, temperature=0,
                                         stop=[stop])  # fmt: skip
    assert (
        cut.choices[0].finish_reason == "stop" and cut.choices[0].message.content == text[: text.index(stop)]
    )


def test_models_health_and_metrics(server):
    models = client_for(server).models.list()
    assert [model.id for model in models.data] == [MODEL]
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    assert metric(server, "sphinx_x_requests_running_max") == 8
    assert metric(server, "sphinx_x_generation_tokens_total") > 0
    assert metric(server, "sphinx_x_http_responses_total") > 0


# -- errors ---------------------------------------------------------------------------------------


def test_malformed_requests_are_400_naming_the_field(server):
    response = httpx.post(f"{server}/v1/chat/completions", content=b"{not json", timeout=CLIENT_TIMEOUT,
                          headers={"content-type": "application/json"})  # fmt: skip
    error_of(response, 400)
    assert "messages" in error_of(post(server, {"model": MODEL}), 400)["message"]
    bad_role = post(server, {"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]})
    assert error_of(bad_role, 400)["param"] == "messages[0].role"
    assert error_of(post(server, {"model": MODEL, "messages": ask("hi"), "n": 2}), 400)["param"] == "n"
    broken = {"role": "user", "content": [{"type": "text", "text": "What?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}  # fmt: skip
    error = error_of(post(server, {"model": MODEL, "messages": [broken]}), 400)
    assert error["message"].startswith("messages[0].content[1].image_url: not a readable image")
    with pytest.raises(openai.BadRequestError):
        client_for(server).chat.completions.create(model=MODEL, messages=ask("hi"), temperature=5)


def test_an_unknown_model_is_404(server):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client_for(server).chat.completions.create(model="gpt-4o", messages=ask("hi"))


def test_a_conversation_the_template_cannot_hold_is_422(server):
    two_users = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert "alternate" in error_of(post(server, {"model": MODEL, "messages": two_users}), 422)["message"]
    ends_with_answer = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    error_of(post(server, {"model": MODEL, "messages": ends_with_answer}), 422)
    late_system = [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]
    error_of(post(server, {"model": MODEL, "messages": late_system}), 422)
    system_first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"}]
    assert post(server, {"model": MODEL, "messages": system_first, "max_tokens": 2}).status_code == 200


def test_context_length_exceeded_is_400_with_the_numbers(server, loaded_toy):
    _, processor = loaded_toy
    image = shapes_image(64, 64)
    prompt = len(processor.encode([{"role": "user", "content": "hi"}], image, True).input_ids)
    response = post(server, {"model": MODEL, "messages": ask("hi", image), "max_tokens": 2048})
    error = error_of(response, 400)
    assert error["code"] == "context_length_exceeded"
    assert f"context is 2048 tokens; the prompt has {prompt}" in error["message"]
    assert f"{prompt + 2048} in all" in error["message"]


def test_limits_give_413_and_400(loaded_toy):
    model, processor = loaded_toy
    limits = ServerLimits(
        max_body_bytes=40_000, max_image_bytes=3_000, max_image_pixels=64 * 64, max_tokens=16
    )
    with running_server(model, processor, limits) as base:
        noisy = Image.effect_noise((40, 40), 100).convert("RGB")  # incompressible: > 3,000 bytes
        assert (
            "limit is 3000"
            in error_of(post(base, {"model": MODEL, "messages": ask("hi", noisy)}), 413)["message"]
        )
        big = Image.new("RGB", (100, 100))  # compresses small, but 10,000 pixels > 4,096
        assert (
            "exceeds the limit of 4096"
            in error_of(post(base, {"model": MODEL, "messages": ask("hi", big)}), 413)["message"]
        )
        huge_body = {"model": MODEL, "messages": ask("x" * 50_000)}
        assert "body" in error_of(post(base, huge_body), 413)["message"]
        over = error_of(post(base, {"model": MODEL, "messages": ask("hi"), "max_tokens": 17}), 400)
        assert "limit of 16" in over["message"]
        two = [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": data_url(Image.new("RGB", (8, 8)))}}]
                * 2,
            }
        ]
        assert "at most 1" in error_of(post(base, {"model": MODEL, "messages": two}), 400)["message"]


def test_the_api_key_is_required_when_set(loaded_toy):
    model, processor = loaded_toy
    with running_server(model, processor, ServerLimits(max_tokens=8), api_key="s3cret") as base:
        with pytest.raises(openai.AuthenticationError):
            client_for(base).chat.completions.create(model=MODEL, messages=ask("hi"))
        with pytest.raises(openai.AuthenticationError):
            client_for(base, "wrong").chat.completions.create(model=MODEL, messages=ask("hi"))
        error_of(httpx.post(f"{base}/v1/chat/completions", content=b"{not json"), 401)  # the key first
        assert client_for(base, "s3cret").chat.completions.create(
            model=MODEL, messages=ask("hi"), max_tokens=2
        )
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert metric(base, "sphinx_x_requests_running", {"Authorization": "Bearer s3cret"}) == 0


def test_hostile_images_are_refused_unfetched_unread_undecoded(loaded_toy, tmp_path, lookups, decoder_calls):
    model, processor = loaded_toy
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    (tmp_path / "secret.png").write_bytes(b"not for clients")
    limits = ServerLimits(allowed_remote_hosts=("images.test",), allowed_media_dir=media_dir, max_tokens=8)
    bomb = "data:image/png;base64," + base64.b64encode(png_header_only(30000, 30000)).decode()
    hostile = {
        "http://metadata.internal/latest/meta-data": (400, "not on this server's allow-list"),
        "file:///etc/passwd": (400, "outside the folder"),
        f"file://{media_dir}/../secret.png": (400, "outside the folder"),
        bomb: (413, "exceeds the limit"),
    }
    with running_server(model, processor, limits) as base:
        for url, (status, words) in hostile.items():
            message = [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                                                     {"type": "image_url", "image_url": {"url": url}}]}]  # fmt: skip
            error = error_of(post(base, {"model": MODEL, "messages": message}), status)
            assert words in error["message"] and error["param"] == "messages[0].content[1].image_url", url
    assert lookups[0] == [] and decoder_calls == []  # no name resolved, nothing decoded


# -- load ----------------------------------------------------------------------------------------


def test_32_concurrent_clients_each_get_their_solo_answer(server):
    shapes = [(96, 32), (32, 96), (64, 64), (80, 40), None]
    requests = [
        {"messages": ask(f"Question {index}: what is at {index}?", shapes_image(*shapes[index % 5]) if shapes[index % 5] else None),
         "max_tokens": 4 + index % 9, "temperature": 0 if index % 2 else 1.0, "seed": index}
        for index in range(32)
    ]  # fmt: skip
    client = client_for(server)

    def answer(request):
        reply = client.chat.completions.create(model=MODEL, **request)
        return reply.choices[0].message.content, reply.usage.completion_tokens

    alone = [answer(request) for request in requests]  # one at a time
    with ThreadPoolExecutor(max_workers=32) as pool:
        together = list(pool.map(answer, requests, timeout=300))
    assert together == alone
    assert len({text for text, _ in alone}) > 10  # the answers really differ: a mix-up would show


def test_a_full_queue_is_429_and_a_disconnect_frees_the_slot(loaded_toy):
    model, processor = loaded_toy
    limits = ServerLimits(max_running=1, max_queue=0, max_tokens=1500)
    with running_server(model, processor, limits) as base:
        body = {
            "model": MODEL,
            "messages": ask(LONG_QUESTION),
            "max_tokens": 1500,
            "temperature": 0,
            "stream": True,
        }
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=CLIENT_TIMEOUT) as stream:
            lines = stream.iter_lines()  # kept: dropping the iterator would close the connection
            first = next(lines)
            assert (
                first.startswith("data: ")
                and json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
            )
            wait_for(lambda: metric(base, "sphinx_x_requests_running") == 1)
            with pytest.raises(openai.RateLimitError, match="busy"):
                client_for(base).chat.completions.create(model=MODEL, messages=ask("hi"), max_tokens=2)
        # the client is gone: its request is cancelled and the slot is free again
        wait_for(lambda: metric(base, "sphinx_x_requests_running") == 0)
        assert metric(base, 'sphinx_x_requests_finished_total{reason="cancelled"}') == 1
        assert client_for(base).chat.completions.create(model=MODEL, messages=ask("hi"), max_tokens=2)


def test_a_request_past_the_timeout_is_cancelled_with_504(loaded_toy):
    model, processor = loaded_toy
    with running_server(model, processor, ServerLimits(request_timeout=1.0, max_tokens=1500)) as base:
        response = post(
            base, {"model": MODEL, "messages": ask(LONG_QUESTION), "max_tokens": 1500, "temperature": 0}
        )
        assert error_of(response, 504)["code"] == "timeout"
        wait_for(lambda: metric(base, "sphinx_x_requests_running") == 0)


# -- grounding ------------------------------------------------------------------------------------


def test_boxes_in_the_answer_come_back_in_the_images_pixels(loaded_toy):
    model, processor = copy.deepcopy(loaded_toy[0]), loaded_toy[1]
    image = Image.new("RGB", (200, 100), (220, 40, 40))  # wide: the padded square is 200 x 200
    answer = "<p>red box</p> [0.10, 0.20, 0.40, 0.70]"
    teach_answer(model, processor, [{"role": "user", "content": "Where is the red box?"},
                                    {"role": "assistant", "content": answer}], image)  # fmt: skip
    with running_server(model, processor, ServerLimits(max_tokens=40)) as base:
        client = client_for(base)
        reply = client.chat.completions.create(
            model=MODEL, messages=ask("Where is the red box?", image), temperature=0
        )
        assert reply.choices[0].message.content == answer and reply.choices[0].finish_reason == "stop"
        expected = [{"type": "box", "phrase": "red box", "pixels": [20.0, 40.0, 80.0, 100.0],  # y2 = 140, clipped
                     "square": [0.1, 0.2, 0.4, 0.7]}]  # fmt: skip
        assert reply.choices[0].message.grounding == expected
        chunks = list(client.chat.completions.create(model=MODEL, messages=ask("Where is the red box?", image),
                                                     temperature=0, stream=True))  # fmt: skip
        assert (
            chunks[-1].choices[0].finish_reason == "stop"
            and chunks[-1].choices[0].delta.grounding == expected
        )


def test_a_model_folder_is_served_under_its_name(toy_model_dir):
    from fastapi.testclient import TestClient

    from sphinx_x.serve.server import build_app

    with TestClient(build_app(toy_model_dir, ServerLimits(max_tokens=4), device="cpu")) as client:
        assert client.get("/v1/models").json()["data"][0]["id"] == "toy-model"
        reply = client.post("/v1/chat/completions", json={"model": "toy-model", "messages": ask("hi")})
        assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] <= 4
