"""The Gradio page around a `WebChat`: layout and events only; what a turn does is `chat.py`'s.

    +-------------------------------+------------------------------------------+
    | image (upload / paste)        | model, context, visual tokens of the image|
    | the answer's boxes, drawn     | chat (streamed)                           |
    | boxes and points (pixels)     | question  [Send] [Stop] [New chat]        |
    |                               | example prompts: Describe, Ground, ...    |
    |                               | sampling: temperature, top-p, max tokens  |
    +-------------------------------+------------------------------------------+

API endpoints (for `gradio_client`): `/set_image` (a file -> the chat about it), `/ask` (question,
temperature, top-p, max tokens -> chat, drawn image, boxes as data, the question box), `/new_chat`.
Each browser session (and each client) has its own conversation in a `gr.State`.
"""

from __future__ import annotations

import html
import re

import gradio as gr

from .chat import Conversation, Sampling, WebChat, WebError
from .prompts import TASK_PROMPTS

PHRASE = re.compile(r"<p>(.*?)</p>", re.DOTALL)


def build_demo(chat: WebChat) -> gr.Blocks:
    """The page; the engine must be started by the caller (`launch` does)."""
    with gr.Blocks(title=f"sphinx-x: {chat.model_name}") as demo:
        state = gr.State(Conversation())
        gr.Markdown("## SPHINX-X: chat about an image")
        with gr.Row():
            with gr.Column(scale=5):
                image_in = gr.Image(type="filepath", sources=["upload", "clipboard"], label="Image",
                                    elem_id="image-in", height=320)  # fmt: skip
                drawn = gr.Image(label="The answer's boxes and points", type="pil", format="png",
                                 interactive=False, elem_id="drawn", height=320)  # fmt: skip
                located = gr.JSON(label="Boxes and points, in the image's pixels", elem_id="located")
            with gr.Column(scale=6):
                info = gr.Markdown(model_info(chat, Conversation()), elem_id="info")
                chatbot = gr.Chatbot(label="Chat", elem_id="chat", height=420, feedback_options=None)
                question = gr.Textbox(placeholder="Ask about the image (Enter sends)", show_label=False,
                                      elem_id="question", max_lines=4)  # fmt: skip
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    stop = gr.Button("Stop", elem_id="stop")
                    new_chat = gr.Button("New chat", elem_id="new-chat")
                with gr.Row():
                    examples = {
                        task: gr.Button(task, size="sm", elem_id="task-" + task.lower().replace(" ", "-"))
                        for task in TASK_PROMPTS
                    }
                with gr.Accordion("Sampling", open=False):
                    temperature = gr.Slider(0, 1.5, value=0.1, step=0.05, label="Temperature (0: greedy)")
                    top_p = gr.Slider(0.05, 1, value=0.75, step=0.05, label="Top-p")
                    max_tokens = gr.Slider(1, chat.limits.max_tokens, value=min(512, chat.limits.max_tokens),
                                           step=1, label="Max tokens")  # fmt: skip

        def set_image(payload, current: Conversation):
            if payload is None and current.image is None:  # e.g. a refused image just removed
                return (gr.skip(),) * 6  # keep the message that says why
            path = payload.get("path") if isinstance(payload, dict) else None
            conversation, shown_image, problem = Conversation(), gr.skip(), None
            if payload is not None and path is None:
                shown_image, problem = None, "The image did not arrive as a file; upload it again."
            elif path is not None:
                try:
                    conversation = chat.open_image(path)
                except WebError as error:
                    shown_image, problem = None, str(error)  # the page shows no image the model cannot see
            if problem:
                gr.Warning(problem)
            return conversation, shown_image, [], None, None, model_info(chat, conversation, problem)

        def ask(conversation: Conversation, text: str, temperature: float, top_p: float, max_tokens: int):
            shown, answer = messages(conversation), ""
            stream = chat.ask(conversation, text, Sampling(temperature, top_p, max_tokens))
            try:
                for answer in stream:
                    yield conversation, [*shown, *pending(text, answer)], gr.skip(), gr.skip(), ""
            except WebError as error:
                raise gr.Error(str(error), print_exception=False) from None
            except Exception as error:  # a bug: a one-line message in the page, the details in the log
                raise gr.Error(f"internal error ({type(error).__name__}); see the server's log") from error
            finally:
                stream.close()  # the page went away or pressed Stop: the engine drops the request
            answered = len(conversation.turns) > len(shown)  # an empty answer is not kept as a turn
            yield (conversation, messages(conversation) if answered else [*shown, *pending(text, answer)],
                   chat.draw(conversation, answer), chat.grounding(conversation, answer), "")  # fmt: skip

        def start_over(conversation: Conversation):
            return conversation.new_chat(), [], None, None, ""

        turn_inputs = [state, question, temperature, top_p, max_tokens]
        turn_outputs = [state, chatbot, drawn, located, question]
        image_in.change(set_image, [image_in, state], [state, image_in, chatbot, drawn, located, info],
                        preprocess=False, api_name="set_image")  # fmt: skip
        turns = [
            send.click(ask, turn_inputs, turn_outputs, api_name="ask"),
            question.submit(ask, turn_inputs, turn_outputs, api_visibility="private"),
        ]
        for task, button in examples.items():
            filled = button.click(
                lambda prompt=TASK_PROMPTS[task]: prompt, None, question, api_visibility="private"
            )
            turns.append(filled.then(ask, turn_inputs, turn_outputs, api_visibility="private"))
        stop.click(None, None, None, cancels=turns, api_visibility="private")
        new_chat.click(start_over, [state], turn_outputs, cancels=turns, api_name="new_chat")
    return demo


def model_info(chat: WebChat, conversation: Conversation, problem: str | None = None) -> str:
    config = chat.engine.model.config
    views = f"{config.grid}x{config.grid} sub-images + global view" if config.grid > 1 else "global view"
    model = (f"**Model** `{chat.model_name}` ({config.text_config.model_type} LLM, {views}, "
             f"{chat.processor.padding} padding) · context {chat.context} tokens")  # fmt: skip
    if problem:
        return model + f"  \n**Image refused**: {html.escape(problem)}"
    if conversation.image is None:
        return model + "  \n**Image** none yet: upload or paste one (without it the chat is text only)"
    width, height = conversation.image.size
    return model + f"  \n**Image** {width}x{height}: **{conversation.visual_tokens} visual tokens**"


def messages(conversation: Conversation) -> list[dict]:
    return [{"role": turn.role, "content": shown_text(turn.text)} for turn in conversation.turns]


def pending(question: str, answer: str) -> list[dict]:
    return [
        {"role": "user", "content": shown_text(question)},
        {"role": "assistant", "content": shown_text(answer)},
    ]


def shown_text(text: str) -> str:
    """Model text for the chat view: `<p>phrase</p>` in bold, any other markup shown as text."""
    parts = PHRASE.split(text)  # text, phrase, text, phrase, ...
    return "".join(
        f"**{html.escape(part)}**" if odd else html.escape(part) for odd, part in _alternate(parts)
    )


def _alternate(parts: list[str]):
    return ((index % 2 == 1, part) for index, part in enumerate(parts))


def launch(chat: WebChat, host: str = "127.0.0.1", port: int = 7860, **options) -> gr.Blocks:
    """Start the engine and serve the page (blocks unless `prevent_thread_lock=True`)."""
    chat.engine.start()
    demo = build_demo(chat)
    demo.queue(default_concurrency_limit=chat.limits.max_running, max_size=chat.limits.max_queue)
    demo.launch(server_name=host, server_port=port, max_file_size=chat.limits.max_image_bytes,
                show_error=False, **options)  # fmt: skip
    return demo
