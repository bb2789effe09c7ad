from sphinx_x.processing.locations import format_box
from sphinx_x.processing.tokenizer import train_toy_tokenizer


def test_a_box_coordinate_is_one_token_wherever_it_stands():
    values = [index / 100 for index in range(101)]
    # Every coordinate in first, middle and last place: the corpus a demo tokenizer is trained on.
    boxes = [format_box([value, 0.5, 0.25, 0.75]) for value in values] + [
        format_box([0.5, value, 0.25, value]) for value in values
    ]
    tokenizer = train_toy_tokenizer(boxes * 3, vocab_size=512)
    for value in values:
        text = f"{value:.2f}"
        for box in (
            format_box([value, 0.1, 0.2, 0.3]),
            format_box([0.1, value, 0.2, 0.3]),
            format_box([0.1, 0.2, 0.3, value]),
        ):
            tokens = tokenizer.convert_ids_to_tokens(tokenizer.encode(box, add_special_tokens=False))
            assert text in tokens, (box, tokens)
            assert tokenizer.decode(tokenizer.encode(box, add_special_tokens=False)) == box


def test_numbers_are_pieces_of_their_own_and_text_round_trips():
    tokenizer = train_toy_tokenizer()
    for text in ("What is 13 plus 4?", "Yes", "<p>red square</p> [0.12, 0.34, 0.56, 0.78]", "3"):
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
        tokens = tokenizer.convert_ids_to_tokens(ids)
        assert all(
            not (any(c.isdigit() for c in t) and any(c.isalpha() or c in "[]," for c in t)) for t in tokens
        ), tokens
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("Yes", add_special_tokens=False)) == ["▁Yes"]
