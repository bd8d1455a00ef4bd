"""``squeezerag average-projectors``: writes a soup that loads as the one averaged in memory, and loses nothing."""

import torch
from tiny_projector import adapted_window_projector

from projector import Projector
from projector.soup import average_projectors
from rag.cli import main


def _saved(tmp_path, llm, *seeds, hidden: int = 32) -> list[str]:
    folders = []
    for seed in seeds:
        folder = tmp_path / f"seed-{seed}-{hidden}"
        adapted_window_projector(llm, seed, hidden=hidden).save_pretrained(folder)
        folders.append(str(folder))
    return folders


def test_the_written_soup_loads_as_the_soup_averaged_in_memory_with_its_card(tiny_llm, tmp_path):
    folders = _saved(tmp_path, tiny_llm, 0, 1, 2)
    out = tmp_path / "soup"
    assert main(["average-projectors", str(out), *folders, "--quiet"]) == 0
    loaded = Projector.from_pretrained(out).state_dict()
    averaged = average_projectors([Projector.from_pretrained(f) for f in folders], folders).state_dict()
    assert loaded.keys() == averaged.keys()
    for key, tensor in averaged.items():  # saved in fp16, as shipped
        assert torch.equal(loaded[key], tensor.half().float()), key
    card = (out / "README.md").read_text()
    assert all(f in card for f in folders) and "3 projectors averaged" in card


def test_a_folder_that_holds_something_is_not_written_over(tiny_llm, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["average-projectors", str(out), *_saved(tmp_path, tiny_llm, 0, 1), "--quiet"]) != 0
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_projectors_of_different_architectures_leave_no_soup(tiny_llm, tmp_path, capsys):
    folders = _saved(tmp_path, tiny_llm, 0) + _saved(tmp_path, tiny_llm, 1, hidden=48)
    out = tmp_path / "soup"
    assert main(["average-projectors", str(out), *folders, "--quiet"]) == 2
    assert "['hidden']" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".soup.tmp-*"))
