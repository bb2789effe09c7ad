from sphinx_x.processing.conversation import RELEASE_SYSTEM
from sphinx_x.processing.tokenizer import train_toy_tokenizer


def test_numbers_split_into_digits_like_llama():
    tokenizer = train_toy_tokenizer()
    pieces = tokenizer.tokenize("[0.14, 0.35] 12")
    assert [p for p in pieces if any(c.isdigit() for c in p)] == ["0", "1", "4", "0", "3", "5", "1", "2"]
    ids = tokenizer.encode("[0.14, 0.35] 12", add_special_tokens=False)
    assert tokenizer.decode(ids) == "[0.14, 0.35] 12"


def test_demo_tokenizer_learns_the_template_text_the_model_reads(tmp_path):
    from sphinx_x.demo.corpus import corpus_texts, write_corpus

    write_corpus(tmp_path, {"count": 20, "language": 20}, seed=0, turns=2)
    texts = corpus_texts(tmp_path)
    assert len(texts) == 40 and all(t.startswith(RELEASE_SYSTEM) and "### Assistant:" in t for t in texts)
    tokenizer = train_toy_tokenizer(texts, vocab_size=512)
    # Every sample carries the system prompt: a token per word, not per character.
    assert len(tokenizer.tokenize(RELEASE_SYSTEM)) <= len(RELEASE_SYSTEM.split()) + 2
