"""The paper's result tables (Tables 2-8), column by column: which benchmark and score key fills
each cell, or why sphinx-x cannot fill it. `suite.suite_table` lays them out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    label: str  # as the paper heads the column
    benchmark: str | None  # None: not supported, see `reason`
    key: str = ""  # the score key in the benchmark's result
    scale: float = 100  # printed value = score * scale
    reason: str = ""


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    columns: tuple[Column, ...]


def unsupported(label: str, reason: str) -> Column:
    return Column(label, None, reason=reason)


MVBENCH_COLUMNS = {
    "AS": "action_sequence", "AP": "action_prediction", "AA": "action_antonym", "FA": "fine_grained_action",
    "UA": "unexpected_action", "OE": "object_existence", "OI": "object_interaction", "OS": "object_shuffle",
    "MD": "moving_direction", "AL": "action_localization", "ST": "scene_transition", "AC": "action_count",
    "MC": "moving_count", "MA": "moving_attribute", "SC": "state_change", "FP": "fine_grained_pose",
    "CO": "character_order", "EN": "egocentric_navigation", "ER": "episodic_reasoning", "CI": "counterfactual_inference",
}  # fmt: skip
VIDEOBENCH_COLUMNS = {
    "Activitynet-QA": "ActivityNet", "MSVD-QA": "MSVD", "MSRVTT-QA": "MSRVTT", "TGIF-QA": "TGIF",
    "YouCook2": "Youcook2", "UCF-Crime": "Ucfcrime", "MOT": "MOT", "TV-QA": "TVQA", "MV-QA": "MV",
    "NBA-QA": "NBA", "License Exam": "Driving-exam", "Decision-Making": "Driving-decision-making", "SQA3D": "SQA3D",
}  # fmt: skip
NOT_IMPLEMENTED = "not implemented: its files and official scorer are not read by sphinx-x yet"

PAPER_TABLES = (
    PaperTable(2, "MLLM benchmarks", (
        Column("POPE", "pope", "f1"), Column("MME-P", "mme", "perception", 1), Column("MME-C", "mme", "cognition", 1),
        Column("MMB", "mmbench", "accuracy"), Column("SEED", "seed", "accuracy"),
        Column("LLaVA-W", "llava-bench", "relative"), Column("MM-Vet", "mmvet", "total"),
        Column("CCbench", "ccbench", "accuracy"), Column("MathVista", "mathvista", "accuracy"),
        unsupported("Tiny LVLM", NOT_IMPLEMENTED + " (Tiny LVLM-eHub's ChatGPT ensemble evaluation)"),
        unsupported("BenchLMM", NOT_IMPLEMENTED),
        unsupported("InfiMM-Eval", NOT_IMPLEMENTED + " (GPT-4-graded open-ended reasoning)"),
        Column("Qbench", "qbench", "accuracy"),
    )),
    PaperTable(3, "Academic VQA benchmarks", (
        Column("OKVQA", "okvqa", "accuracy"), Column("VQAV2", "vqav2", "accuracy"), Column("VizWiz", "vizwiz", "accuracy"),
        Column("GQA", "gqa", "accuracy"), Column("SQA", "scienceqa", "accuracy"), Column("IVQA", "iconqa", "accuracy"),
    )),
    PaperTable(4, "Other MLLM benchmarks (SPHINX-MoE)", (
        Column("MMVP", "mmvp", "pair_accuracy"),
        Column("Hallusion qAcc", "hallusionbench", "qAcc"), Column("Hallusion fAcc", "hallusionbench", "fAcc"),
        Column("Easy aAcc", "hallusionbench", "easy_aAcc"), Column("Hard aAcc", "hallusionbench", "hard_aAcc"),
        Column("aAcc", "hallusionbench", "aAcc"),
        *(unsupported(label, NOT_IMPLEMENTED + " (AesBench)") for label in ("AesP", "AesE", "AesA", "AesI")),
        Column("MMMU-val", "mmmu", "accuracy"), Column("CMMMU val", "cmmmu", "accuracy"),
        unsupported("CMMMU test", "the test answers are not published (scored by CMMMU's evaluation server)"),
        Column("ScreenSpot Mobile", "screenspot", "platform/mobile"),
        Column("ScreenSpot Desktop", "screenspot", "platform/desktop"),
        Column("ScreenSpot Web", "screenspot", "platform/web"),
    )),
    PaperTable(5, "Text-oriented VQA", (
        Column("TextVQA", "textvqa", "accuracy"), Column("OCRVQA", "ocrvqa", "accuracy"),
        Column("DocVQA", "docvqa", "anls"), Column("ChartQA", "chartqa", "relaxed_accuracy"),
        Column("AI2D", "ai2d", "accuracy"),
        unsupported("DeepForm", NOT_IMPLEMENTED + " (DUE benchmark F1 over key-value answers)"),
        Column("InfoVQA", "infovqa", "anls"),
        unsupported("KLC", NOT_IMPLEMENTED + " (DUE benchmark F1 over key-value answers)"),
        unsupported("WTQ", NOT_IMPLEMENTED + " (WikiTableQuestions denotation accuracy with its value normaliser)"),
        unsupported("TabFact", NOT_IMPLEMENTED + " (statement accuracy on rendered tables)"),
        unsupported("VisualMRC", NOT_IMPLEMENTED + " (CIDEr, needs the COCO caption scorer)"),
    )),
    PaperTable(6, "Referring expression comprehension (Acc@0.5)", (
        Column("RefCOCO+ val", "refcoco+-val", "acc50"), Column("RefCOCO+ test-A", "refcoco+-testA", "acc50"),
        Column("RefCOCO+ test-B", "refcoco+-testB", "acc50"), Column("RefCOCO val", "refcoco-val", "acc50"),
        Column("RefCOCO test-A", "refcoco-testA", "acc50"), Column("RefCOCO test-B", "refcoco-testB", "acc50"),
        Column("RefCOCOg val-u", "refcocog-val", "acc50"), Column("RefCOCOg test-u", "refcocog-test", "acc50"),
    )),
    PaperTable(7, "Video-Bench (middle frame)", (
        Column("Avg.", "videobench", "final_score"),
        *(Column(label, "videobench", f"category/{name}") for label, name in VIDEOBENCH_COLUMNS.items()),
    )),
    PaperTable(8, "MVBench (middle frame)", (
        Column("Avg.", "mvbench", "accuracy"),
        *(Column(label, "mvbench", f"category/{task}") for label, task in MVBENCH_COLUMNS.items()),
    )),
)  # fmt: skip


def table_benchmarks() -> set[str]:
    return {column.benchmark for table in PAPER_TABLES for column in table.columns if column.benchmark}
