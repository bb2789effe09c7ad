import pytest
from PIL import Image

from sphinx_x.eval import video
from sphinx_x.eval.readers import BenchmarkDataError, middle_sample

from . import fixtures


def test_middle_sample_of_eight_evenly_spread_frames():
    assert middle_sample(0, 9) == 5  # samples 0, 1, 3, 4, 5, 6, 8, 9 -> the fifth
    assert middle_sample(3, 9) == 6 and middle_sample(4, 4) == 4
    assert video.bounded_range(12, 3, (1.0, 3.0)) == (3, 9) and video.bounded_range(12, 3, None) == (0, 11)
    assert video.bounded_range(12, 3, (5.0, 9.0)) == (0, 11)  # a bound past the clip: the whole clip


def test_mvbench_frame_folder_task_uses_its_bounds(tmp_path):
    fixtures.mvbench(tmp_path)
    [question] = video.read_mvbench(tmp_path)
    assert question.image.name == "00007.jpg"  # frames 3..9 of 12 -> middle sample 6 -> the 7th file
    assert question.prompt.startswith("Carefully watch the video")
    assert question.prompt.endswith("Question: Why is Sheldon upset?\nOptions:\n(A) He lost\n(B) He won\n(C) He is hungry"
                                    "\nOnly give the best option.")  # fmt: skip
    assert question.reference == {"answer": "(A) He lost", "category": "episodic_reasoning"}


def test_video_files_are_decoded_once_and_cached(tmp_path):
    fixtures.videobench(tmp_path)
    calls = []

    def fake_decoder(path, bound):
        calls.append((path.name, bound))
        return Image.new("RGB", (16, 8), (0, 90, 0))

    [question] = video.read_videobench(tmp_path, decode=fake_decoder)
    again = list(video.read_videobench(tmp_path, decode=fake_decoder))
    assert (
        calls == [("MOT16-02.mp4", None)] and again[0].image == question.image
    )  # the second run reads the cache
    assert question.image.parent == tmp_path / "middle_frames" / "MOT" and Image.open(
        question.image
    ).size == (16, 8)
    assert question.reference == {
        "answer": "C",
        "options": {"A": "81", "B": "37", "C": "18"},
        "category": "MOT",
    }
    assert question.prompt.startswith(
        "How many pedestrians are visible?\nA. 81\nB. 37\nC. 18\nAnswer with the option"
    )


def test_without_pyav_the_error_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("no av")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    fixtures.videobench(tmp_path)
    with pytest.raises(BenchmarkDataError, match=r"needs PyAV \(pip install av\)"):
        list(video.read_videobench(tmp_path))
    with pytest.raises(BenchmarkDataError, match="no json/"):
        list(video.read_mvbench(tmp_path))
