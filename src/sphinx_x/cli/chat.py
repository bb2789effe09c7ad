"""`sphinx-x chat`: ask a model about an image, one question or an interactive conversation."""

from __future__ import annotations

import sys

from .common import add_model_options, load_model_from

DEFAULT_TOY = "sphinx-x-toy"


def add(commands) -> None:
    chat = commands.add_parser("chat", help="ask a model about an image (one question, or --interactive)")
    chat.add_argument("question", nargs="?", help="the question; omit with --interactive")
    add_model_options(chat, default_model=DEFAULT_TOY)
    chat.add_argument("--image", help="image file to talk about")
    chat.add_argument("--interactive", action="store_true", help="multi-turn chat on stdin (/reset, /quit)")
    chat.add_argument("--temperature", type=float, default=0.1, help="0 = greedy")
    chat.add_argument("--top-p", type=float, default=0.75)
    chat.add_argument("--max-new-tokens", type=int, default=512)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument(
        "--boxes-out", default="sphinx-x-answer.png", help="where to draw boxes/points of an answer"
    )
    chat.set_defaults(run=run)


def run(args) -> int:
    from ..inference.chat import ChatSession
    from ..inference.generate import DecodingSettings
    from ..presets import PRESETS

    if not args.question and not args.interactive:
        raise ValueError("give a question, or --interactive")
    if args.model in PRESETS:
        print(
            f"note: {args.model} is freshly initialised and untrained; its answers are noise", file=sys.stderr
        )
    model, processor = load_model_from(args)
    settings = DecodingSettings(args.max_new_tokens, args.temperature, args.top_p, seed=args.seed)
    session = ChatSession(model, processor, args.image, settings)
    for question in [args.question] if args.question else read_questions(session):
        answer_one(session, question, args.boxes_out)
    return 0


def read_questions(session):
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return
        if line in ("/quit", "/exit"):
            return
        if line == "/reset":
            session.reset()
            continue
        if line:
            yield line


def answer_one(session, question: str, boxes_out: str) -> None:
    answer = session.ask(question, on_text=lambda _, text: print(text, end="", flush=True))
    print()
    drawn = session.draw_answer(answer, boxes_out)
    if drawn is not None:
        print(f"[boxes and points drawn on the image: {drawn}]")
