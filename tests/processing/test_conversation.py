import pytest

from sphinx_x.processing.conversation import (
    RELEASE_SYSTEM,
    ChatTemplate,
    ConversationError,
    Message,
    to_messages,
)


def test_render_matches_the_release_template():
    messages = [Message("user", "q1"), Message("assistant", "a1"), Message("user", "q2")]
    expected = f"{RELEASE_SYSTEM}\n\n### Human: q1\n### Assistant: a1\n### Human: q2\n### Assistant:"
    assert ChatTemplate().render(messages, add_generation_prompt=True) == expected


def test_answers_are_the_supervised_segments():
    messages = [
        Message("user", "q1"),
        Message("assistant", "a1"),
        Message("user", "q2"),
        Message("assistant", "a2"),
    ]
    segments = ChatTemplate().segments(messages, add_generation_prompt=False)
    assert [s.text for s in segments if s.supervised] == ["a1\n###", "a2\n###"]
    assert ChatTemplate().render(messages).endswith("### Assistant: a2\n###")


def test_llava_records_and_chat_messages_are_accepted():
    llava = [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "That."}]
    chat = [{"role": "user", "content": "What?"}, {"role": "assistant", "content": "That."}]
    assert (
        to_messages(llava) == to_messages(chat) == [Message("user", "What?"), Message("assistant", "That.")]
    )


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([], "no turns"),
        ([Message("assistant", "hi")], "turn 0 is from 'assistant'"),
        ([Message("user", "a"), Message("user", "b")], "turn 1 is from 'user'"),
        ([Message("user", "  ")], "turn 0 \\(user\\) is empty"),
    ],
)
def test_bad_conversations_say_which_turn(turns, message):
    with pytest.raises(ConversationError, match=message):
        ChatTemplate().segments(turns, add_generation_prompt=True)


def test_bad_turn_record_is_reported():
    with pytest.raises(ConversationError, match="turn 1"):
        to_messages([{"from": "human", "value": "x"}, {"speaker": "bot"}])
