"""Text-only data (Table 1, language): multi-turn dialog, math and code.

    sharegpt      ShareGPT-style dialogs: [{"id", "conversations": [{"from", "value"}]}], also Flan-mini
    ultrachat     UltraChat: {"id", "data": [q, a, q, a, ...]}; ultrachat_200k: {"messages": [{"role", "content"}]}
    openorca      OpenOrca: {"id", "system_prompt", "question", "response"}
    flan          FLAN collection: {"inputs", "targets"} (Flan-mini's conversation files: use sharegpt)
    metamathqa    MetaMathQA: {"query", "response", "type"}
    mathinstruct  MathInstruct: {"instruction", "output", "source"}
    wizardcoder   WizardCoder / Evol-Instruct-Code: {"instruction", "output"} (+ optional "input")

Each reads JSON lists, JSONL or parquet files, one entry at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .common import ConvertOptions, Result, each_entry, make_record, normalise_turns, text_field


def sharegpt(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(entry: dict, where: str) -> dict:
        turns = entry.get("conversations", entry.get("messages"))
        if not isinstance(turns, list):
            raise ValueError("conversations: expected a list of turns")
        return {
            "id": str(entry.get("id", where)),
            "conversations": normalise_turns(turns, False),
            "task": "dialog",
        }

    return each_entry(build, sources)


def ultrachat(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(entry: dict, where: str) -> dict:
        if isinstance(entry.get("data"), list):  # the original release: alternating strings
            turns = [
                {"from": "gpt" if i % 2 else "human", "value": text} for i, text in enumerate(entry["data"])
            ]
        elif isinstance(entry.get("messages"), list):  # ultrachat_200k
            turns = entry["messages"]
        else:
            raise ValueError("data / messages: expected a list of turns")
        record_id = str(entry.get("id", entry.get("prompt_id", where)))
        return {"id": record_id, "conversations": normalise_turns(turns, False), "task": "dialog"}

    return each_entry(build, sources)


def openorca(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    # The system prompt ("You are an AI assistant...") steers the answer's style, so it stays, in
    # front of the question: the chat template has one fixed system message of its own.
    def build(entry: dict, where: str) -> dict:
        question = text_field(entry, "question")
        system = (entry.get("system_prompt") or "").strip()
        question = f"{system}\n\n{question}" if system else question
        return make_record(
            str(entry.get("id", where)), [(question, text_field(entry, "response"))], task="dialog"
        )

    return each_entry(build, sources)


def _pairs(question_field: str, answer_field: str, task: str, input_field: str = ""):
    """A converter for formats of one question and one answer per entry."""

    def build(entry: dict, where: str) -> dict:
        question = text_field(entry, question_field)
        extra = entry.get(input_field) if input_field else None
        if isinstance(extra, str) and extra.strip():
            question = f"{question}\n\n{extra.strip()}"
        return make_record(
            str(entry.get("id", where)), [(question, text_field(entry, answer_field))], task=task
        )

    def convert(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
        return each_entry(build, sources)

    return convert


flan = _pairs("inputs", "targets", "dialog")
metamathqa = _pairs("query", "response", "math")
mathinstruct = _pairs("instruction", "output", "math")
wizardcoder = _pairs("instruction", "output", "code", input_field="input")
