"""Video benchmarks through the middle frame (paper §4.4): MVBench and Video-Bench, read from their
published layouts.

The paper feeds its image model one frame per clip: frames are sampled evenly and the middle one is
the image (`readers.middle_sample`, 8 samples, as for the frame-folder `video` benchmark). Clips
published as frame folders are read directly; video files are decoded once with PyAV
(`pip install av`) and the chosen frame is cached as a PNG under `{data}/middle_frames/`, so a rerun
(or a machine without PyAV, given the cache) reads no video again.

    MVBench      `json/{task}.json` ([{video, question, candidates, answer, start?, end?}]) and the
                 videos under `video/{source folder}/` (the 20 tasks' folders, as MVBench's loader)
    Video-Bench  `Eval_QA/{Dataset}_QA_new.json` ({key: {vid_path, video_id, question, choices, answer}})
                 and `Eval_video/{Dataset}/...` (vid_path is relative to the data folder)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image

from .readers import (
    IMAGE_SUFFIXES,
    OPTION_LETTER,
    BenchmarkDataError,
    EvalItem,
    middle_sample,
    options_text,
    read_json,
)

# MVBench's loader: task file -> (folder under video/, "video" or "frame", clip bounded by start/end).
MVBENCH_TASKS = {
    "action_sequence": ("star/Charades_v1_480", "video", True),
    "action_prediction": ("star/Charades_v1_480", "video", True),
    "action_antonym": ("ssv2_video", "video", False),
    "fine_grained_action": ("Moments_in_Time_Raw/videos", "video", False),
    "unexpected_action": ("FunQA_test/test", "video", False),
    "object_existence": ("clevrer/video_validation", "video", False),
    "object_interaction": ("star/Charades_v1_480", "video", True),
    "object_shuffle": ("perception/videos", "video", False),
    "moving_direction": ("clevrer/video_validation", "video", False),
    "action_localization": ("sta/sta_video", "video", True),
    "scene_transition": ("scene_qa/video", "video", False),
    "action_count": ("perception/videos", "video", False),
    "moving_count": ("clevrer/video_validation", "video", False),
    "moving_attribute": ("clevrer/video_validation", "video", False),
    "state_change": ("perception/videos", "video", False),
    "fine_grained_pose": ("nturgbd", "video", False),
    "character_order": ("perception/videos", "video", False),
    "egocentric_navigation": ("vlnqa", "video", False),
    "episodic_reasoning": ("tvqa/frames_fps3_hq", "frame", True),
    "counterfactual_inference": ("clevrer/video_validation", "video", False),
}
FRAME_FOLDER_FPS = 3  # MVBench's frame folders (TVQA) hold 3 frames per second
# MVBench's system and question prompts; the runner has no assistant prefix ("Best option:(").
MVBENCH_SYSTEM = (
    "Carefully watch the video and pay attention to the cause and sequence of events, the detail and "
    "movement of objects, and the action and pose of persons. Based on your observations, select the best "
    "option that accurately addresses the question.\n"
)
MVBENCH_QUESTION_SUFFIX = "\nOnly give the best option."


# -- frames ---------------------------------------------------------------------------------------


def frame_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)


def bounded_range(count: int, fps: float, bound: tuple[float, float] | None) -> tuple[int, int]:
    """The first and last frame index of the clip: all of it, or the [start, end] seconds given."""
    if bound is None:
        return 0, count - 1
    first = max(0, round(bound[0] * fps))
    last = min(count - 1, round(bound[1] * fps))
    return (first, last) if last >= first else (0, count - 1)


def folder_middle_frame(folder: Path, bound: tuple[float, float] | None, fps: float) -> Path:
    files = frame_files(folder)
    if not files:
        raise BenchmarkDataError(f"{folder}: no frames")
    return files[middle_sample(*bounded_range(len(files), fps, bound))]


def decode_with_pyav(path: Path, bound: tuple[float, float] | None) -> Image.Image:
    """The middle sampled frame of a video file, decoding frame by frame up to it (memory stays flat)."""
    try:
        import av
    except ImportError:
        raise BenchmarkDataError(
            f"{path}: decoding videos needs PyAV (pip install av), or the cached middle_frames/ of an earlier run"
        ) from None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 30)
        count = stream.frames or sum(1 for _ in container.decode(stream))  # webm headers may not say
    if count == 0:
        raise BenchmarkDataError(f"{path}: no video frames")
    target = middle_sample(*bounded_range(count, fps, bound))
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            if index == target:
                return frame.to_image()
    raise BenchmarkDataError(f"{path}: frame {target} of {count} could not be decoded")


VideoDecoder = Callable[[Path, "tuple[float, float] | None"], Image.Image]


def video_middle_frame(
    path: Path, cache: Path, bound: tuple[float, float] | None, decode: VideoDecoder = decode_with_pyav
) -> Path:
    """The cached PNG of a video's middle sampled frame, decoded on first use."""
    key = hashlib.sha1(f"{path.resolve()}|{bound}".encode()).hexdigest()[:16]
    cached = cache / f"{path.stem}-{key}.png"
    if not cached.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        decode(path, bound).convert("RGB").save(cached)
    return cached


def clip_frame(path: Path, cache: Path, bound, fps_of_folders: float, decode: VideoDecoder) -> Path:
    if path.is_dir():
        return folder_middle_frame(path, bound, fps_of_folders)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: no such video file or frame folder")
    return video_middle_frame(path, cache, bound, decode)


# -- MVBench --------------------------------------------------------------------------------------


def mvbench_prompt(question: str, candidates: list[str]) -> tuple[str, dict[str, str]]:
    options = {chr(ord("A") + i): str(c) for i, c in enumerate(candidates)}
    listing = "".join(f"({letter}) {text}\n" for letter, text in options.items())
    body = f"Question: {question}\nOptions:\n{listing}".rstrip()
    return MVBENCH_SYSTEM + body + MVBENCH_QUESTION_SUFFIX, options


def read_mvbench(root: Path, decode: VideoDecoder = decode_with_pyav) -> Iterator[EvalItem]:
    json_dir = root / "json"
    files = sorted(json_dir.glob("*.json")) if json_dir.is_dir() else []
    if not files:
        raise BenchmarkDataError(f"{root}: no json/{{task}}.json files (MVBench's layout)")
    for source in files:
        if source.stem not in MVBENCH_TASKS:
            raise BenchmarkDataError(
                f"{source}: unknown MVBench task (expected one of {', '.join(MVBENCH_TASKS)})"
            )
        folder, _, bounded = MVBENCH_TASKS[source.stem]
        for index, entry in enumerate(read_json(source)):
            bound = (float(entry["start"]), float(entry["end"])) if bounded and "start" in entry else None
            prompt, options = mvbench_prompt(entry["question"], entry["candidates"])
            letter = next((k for k, v in options.items() if v == str(entry["answer"])), None)
            if letter is None:
                raise BenchmarkDataError(f"{source}:[{index}]: answer is not one of the candidates")
            image = clip_frame(root / "video" / folder / entry["video"], root / "middle_frames" / source.stem,
                               bound, FRAME_FOLDER_FPS, decode)  # fmt: skip
            yield EvalItem(
                f"{source.stem}-{index}", prompt, image,
                {"answer": f"({letter}) {options[letter]}", "category": source.stem},
            )  # fmt: skip


# -- Video-Bench ----------------------------------------------------------------------------------


def read_videobench(root: Path, decode: VideoDecoder = decode_with_pyav) -> Iterator[EvalItem]:
    files = sorted(root.rglob("Eval_QA/*_QA_new.json"))
    if not files:
        raise BenchmarkDataError(f"{root}: no Eval_QA/*_QA_new.json files (Video-Bench's layout)")
    for source in files:
        dataset = source.name.removesuffix("_QA_new.json")
        data_root = source.parent.parent
        for key, entry in read_json(source).items():
            if "answer" not in entry:
                raise BenchmarkDataError(f"{source}: question {key} has no answer")
            options = {letter: str(text) for letter, text in entry["choices"].items()}
            prompt = f"{entry['question']}\n{options_text(options)}{OPTION_LETTER}"
            image = clip_frame(data_root / entry["vid_path"], data_root / "middle_frames" / dataset, None,
                               FRAME_FOLDER_FPS, decode)  # fmt: skip
            yield EvalItem(
                f"{dataset}-{key}", prompt, image,
                {"answer": entry["answer"], "options": options, "category": dataset},
            )  # fmt: skip
