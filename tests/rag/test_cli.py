import json

from rag.cli import main


def test_index_build_info_and_bad_line(tmp_path, tiny_embedder_dir, capsys):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "title": f"T{i}", "text": f"fact number {i} is true"})
                                for i in range(5)))
    out = tmp_path / "idx"
    args = ["index", "build", str(corpus), str(out), "--embedder", str(tiny_embedder_dir), "--chunk-tokens", "32",
            "--chunk-overlap", "8", "--memory", "pooled", "segments:2", "--quiet"]
    assert main(args) == 0
    assert main(["index", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["rows"] == 5 and set(info["memory"]) == {"pooled", "segments:2"}
    assert info["embedder"]["probe_vector"].endswith("floats>")

    assert main(args) == 2  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "ok"}\n{broken\n')
    assert main(["index", "build", str(bad), str(tmp_path / "idx2"), "--embedder", str(tiny_embedder_dir),
                 "--chunk-tokens", "32", "--chunk-overlap", "8", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl line 2" in err and "--skip-bad" in err
    assert not (tmp_path / "idx2").exists()


def test_quiet_turns_off_transformers_loading_bars():
    from transformers.utils import logging as hf_logging

    from rag.cli import configure_logging

    hf_logging.enable_progress_bar()
    try:
        configure_logging(quiet=True)
        assert not hf_logging.is_progress_bar_enabled()  # the "Loading weights" bars printed under --quiet
    finally:
        hf_logging.enable_progress_bar()
