"""VQA soft accuracy: the official VQA evaluation (VQAv2, OK-VQA, VizWiz) and TextVQA's EvalAI processor.

Both are transcribed from the reference implementations, quirks included (they are what the
published numbers were computed with): the period regex is a negative *lookahead* typo for a
lookbehind, and the official code passes `re.UNICODE` (32) where `re.sub` expects a count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's", "thered": "there'd",
    "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're", "theres": "there's",
    "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll",
    "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've",
    "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll",
    "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = ("a", "an", "the")
PUNCTUATION = [
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(\,)(\d)")
EVALAI_COMMA_STRIP = re.compile(r"(?<=\d)(\,)+(?=\d)")
OFFICIAL_PERIOD_COUNT = int(re.UNICODE)  # the official code's positional `re.UNICODE` is a count of 32


def process_punctuation(text: str, comma_strip: re.Pattern = COMMA_BETWEEN_DIGITS) -> str:
    out = text
    for mark in PUNCTUATION:
        if (mark + " " in text or " " + mark in text) or comma_strip.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return PERIOD_STRIP.sub("", out, count=OFFICIAL_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_answer(text: str) -> str:
    """The official normalisation: punctuation, periods, lowercase, number words, articles, contractions."""
    return process_digit_article(process_punctuation(text))


def strip_whitespace(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def leave_one_out_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """mean over i of min(1, #{j != i: answer_j == prediction} / 3)."""
    scores = []
    for i in range(len(answers)):
        matches = sum(1 for j, answer in enumerate(answers) if j != i and answer == prediction)
        scores.append(min(1.0, matches / 3))
    return sum(scores) / len(scores) if scores else 0.0


def vqa_accuracy(prediction: str, answers: Sequence[str], always_normalize: bool = False) -> float:
    """Official VQA accuracy of one question.

    Normalises only when the answers disagree (the official behaviour); `always_normalize=True` is
    lmms-eval's variant, which gives different numbers when all answers are identical.
    """
    prediction = strip_whitespace(prediction)
    answers = [strip_whitespace(answer) for answer in answers]
    if len(set(answers)) > 1 or always_normalize:
        answers = [normalize_answer(answer) for answer in answers]
        prediction = normalize_answer(prediction)
    return leave_one_out_accuracy(prediction, answers)


def evalai_process(text: str) -> str:
    """TextVQA's EvalAI answer processor (as in lmms-eval), applied to predictions and answers alike."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = strip_whitespace(text)
    return process_digit_article(process_punctuation(text, comma_strip=EVALAI_COMMA_STRIP))


def textvqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    return leave_one_out_accuracy(evalai_process(prediction), [evalai_process(answer) for answer in answers])


def exact_match(prediction: str, answer: str) -> float:
    """GQA: exact match after the EvalAI normalisation of both sides."""
    return float(evalai_process(prediction) == evalai_process(answer))
