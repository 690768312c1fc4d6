"""Hostile command-line options and paths: one line, exit 2, nothing written, before any compute."""

from __future__ import annotations

import pytest

from .test_grid_files import GRID, PGD


@pytest.fixture
def grid(ws):
    return ws.write("g.toml", GRID + PGD)


def _file(ws, name="f"):
    return ws.write(name, "x")


def _folder(ws, name="d"):
    (ws.root / name).mkdir()
    return ws.root / name


# (args with {grid}, {out}, {cache}, {file}, {folder} filled in, expected words)
CASES = {
    "unknown_option": (["run", "--colour", "red"], "No such option: --colour"),
    "max_samples_word": (["run", "--grid", "{grid}", "--max-samples", "many"], "Invalid value for '--max-samples'"),
    "max_samples_zero": (["run", "--grid", "{grid}", "--max-samples", "0"], "--max-samples must be >= 1"),
    "max_samples_negative": (["run", "--grid", "{grid}", "--max-samples", "-5"], "--max-samples must be >= 1"),
    "workers_zero": (["run", "--grid", "{grid}", "--workers", "0"], "--workers must be >= 1"),
    "workers_word": (["run", "--workers", "two"], "Invalid value for '--workers'"),
    "executor_unknown": (["run", "--grid", "{grid}", "--executor", "spark"], "--executor must be local or ray"),
    "address_without_ray": (["run", "--grid", "{grid}", "--address", "x:1"], "--address is for --executor ray"),
    "ray_address_refused": (["run", "--grid", "{grid}", "--executor", "ray", "--address", "127.0.0.1:1"],
                            "cannot reach Ray at 127.0.0.1:1"),
    "ray_address_malformed": (["run", "--grid", "{grid}", "--executor", "ray", "--address", "ray://:x"],
                              "is not host:port"),
    "device_unknown": (["run", "--grid", "{grid}", "--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
    "precision_half": (["run", "--grid", "{grid}", "--precision", "float16"], "float16 flushes"),
    "faces_unknown": (["run", "--grid", "{grid}", "--faces", "dlib"], "--faces"),
    "dataset_unknown": (["run", "--grid", "{grid}", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    "data_root_missing": (["run", "--grid", "{grid}", "--dataset", "folder", "--data-root", "{out}/none"],
                          "data root"),
    "detector_unknown": (["run", "--grid", "{grid}", "--detector", "gpt"], "unknown detector 'gpt'"),
    "model_missing_file": (["run", "--grid", "{grid}", "--model", "nope.py:make"], "nope.py"),
    "model_no_factory": (["run", "--grid", "{grid}", "--model", "{file}"], "file.py:factory"),
    "weights_missing": (["run", "--grid", "{grid}", "--detector", "test_tiny_cnn", "--weights", "{out}/w.st"],
                        "does not exist"),
    "grid_missing": (["run", "--grid", "nope"], "is neither a shipped grid"),
    "out_is_a_file": (["run", "--grid", "{grid}", "--out", "{file}"], "is a file; give a folder with --out"),
    "cache_is_a_file": (["run", "--grid", "{grid}", "--cache", "{file}"], "checkpoint cache"),
    "cache_under_a_file": (["run", "--grid", "{grid}", "--cache", "{file}/sub"], "is a file, not a folder"),
    "explain_n_zero": (["explain", "test_tiny_cnn", "--n", "0"], "--n must be >= 1"),
    "explain_eps_overflow": (["explain", "test_tiny_cnn", "--eps", "1e400"], "is not a finite number >= 0"),
    "explain_eps_nan": (["explain", "test_tiny_cnn", "--eps", "nan"], "eps 'nan' is not a finite number >= 0"),
    "explain_eps_word": (["explain", "test_tiny_cnn", "--eps", "tiny"], "is not a number or a fraction"),
    "explain_out_is_a_file": (["explain", "test_tiny_cnn", "--out", "{file}"], "--out"),
    "explain_unknown_attack": (["explain", "test_tiny_cnn", "--grid", "{grid}", "--attack", "deepfool"],
                               "unknown attack 'deepfool'"),
    "pipeline_n_zero": (["pipeline", "test_tiny_cnn", "--n", "0"], "--n must be >= 1"),
    "pipeline_eps_inf": (["pipeline", "test_tiny_cnn", "--eps", "inf"], "eps 'inf' is not a finite number >= 0"),
    "pipeline_eps_overflow": (["pipeline", "test_tiny_cnn", "--eps", "1e999"], "is not a finite number >= 0"),
    "explain_eps_4301_digit_exponent": (["explain", "test_tiny_cnn", "--eps", "1e5000"], "is not a finite number"),
    "explain_eps_huge_exponent": (["explain", "test_tiny_cnn", "--eps", "1e99999999"], "is not a finite number"),
    "pipeline_l2_attack": (["pipeline", "test_tiny_cnn", "--attack", "cw", "--eps", "0.5"], "L-inf budget"),
    "train_out_is_a_folder": (["train", "test_tiny_cnn", "--out", "{folder}"], "is a folder or a device"),
    "train_epochs_zero": (["train", "test_tiny_cnn", "--epochs", "0"], "--epochs must be >= 1"),
    "train_seed_negative": (["train", "test_tiny_cnn", "--seed", "-1"], "--seed must be in 0..2147483647"),
    "train_image_size_huge": (["train", "test_tiny_cnn", "--image-size", "100000"], "--image-size must be in 16..1024"),
    "train_image_size_tiny": (["train", "test_tiny_cnn", "--image-size", "5"], "--image-size must be in 16..1024"),
    "train_adv_ratio_nan": (["train", "test_tiny_cnn", "--adv", "pgd", "--adv-ratio", "nan"], "adv ratio in (0, 1]"),
    "train_adv_steps_zero": (["train", "test_tiny_cnn", "--adv", "pgd", "--adv-steps", "0"], "adv steps >= 1"),
    "train_distill_negative": (["train", "test_tiny_cnn", "--distill", "-2"], "temperature must be in [1, 1000]"),
    "explain_steps_zero": (["explain", "test_tiny_cnn", "--steps", "0"], "steps must be >= 1"),
    "train_dataset_unknown": (["train", "test_tiny_cnn", "--dataset", "imagenet"], "unknown dataset"),
    "train_eps_negative": (["train", "test_tiny_cnn", "--adv", "pgd", "--eps", "-1/255"], "not a finite number >= 0"),
    "train_adv_unknown": (["train", "test_tiny_cnn", "--adv", "deepfool"], "deepfool"),
    "train_distill_nan": (["train", "test_tiny_cnn", "--distill", "nan"], "temperature"),
    "train_detector_and_model": (["train", "test_tiny_cnn", "--model", "x.py:f"], "name one detector"),
    "check_baseline_missing": (["check", "--baseline", "{out}/b.json"], "no baseline at"),
    "check_update_into_folder": (["check", "--baseline", "{folder}", "--update", "--grid", "{grid}"],
                                 "is a folder or a device"),
    "check_confidence_above_one": (["check", "--baseline", "{file}", "--confidence", "1.5"], "confidence"),
    "check_confidence_nan": (["check", "--baseline", "{file}", "--confidence", "nan"], "confidence"),
    "table_no_store": (["table", "--out", "{folder}"], "no results store at"),
    "submit_no_store": (["submit", "--out", "{folder}", "--leaderboards", "{out}/lb"], "results"),
    "build_root_is_a_file": (["leaderboard", "build", "--leaderboards", "{file}"], "is not a folder"),
    "build_root_missing": (["leaderboard", "build", "--leaderboards", "{out}/none"], "is not a folder"),
    "cache_key_grid_missing": (["cache-key", "--grid", "nope"], "is neither a shipped grid"),
    "extra_argument": (["list", "extra"], "unexpected extra argument"),
    "out_name_too_long": (["run", "--grid", "{grid}", "--out", "x" * 300], "File name too long"),
    "model_is_a_device": (["run", "--grid", "{grid}", "--model", "/dev/zero:make"], "No module named"),
    "export_no_store": (["export", "--out", "{folder}", "--grid", "{grid}"], "no results store in"),
    "export_format_unknown": (["export", "--out", "{folder}", "--format", "gif"], "--format must be one of"),
    "export_quality_zero": (["export", "--out", "{folder}", "--format", "jpeg", "--quality", "0"],
                            "--quality must be in 1..100"),
    "export_to_a_file": (["export", "--out", "{folder}", "--to", "{file}"], "is a file, not a folder"),
    "score_not_a_folder": (["score", "{file}", "--detector", "test_tiny_cnn"], "is not a folder"),
    "score_no_manifest": (["score", "{folder}", "--detector", "test_tiny_cnn"], "manifest"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_option_is_one_line_and_exit_2(ws, grid, case):
    args, message = CASES[case]
    fill = {"{grid}": grid, "{out}": ws.out, "{cache}": ws.cache, "{file}": _file(ws), "{folder}": _folder(ws)}
    filled = []
    for a in args:
        for k, v in fill.items():
            a = a.replace(k, str(v))
        filled.append(a)
    ws.refused(filled, message)


def _command(exc: BaseException):
    from dfbench.boundary import user_errors

    @user_errors
    def command() -> None:
        raise exc

    return command


@pytest.mark.parametrize("exc,code,line", [
    (OSError(28, "No space left on device", "out/results.sqlite"), 2,
     "dfbench: error: No space left on device: out/results.sqlite"),
    (PermissionError(13, "Permission denied", "a", None, "b"), 2, "dfbench: error: Permission denied: a -> b"),
    (IsADirectoryError(21, "Is a directory", "results/x"), 2, "dfbench: error: Is a directory: results/x"),
    (KeyboardInterrupt(), 130, "dfbench: error: interrupted; run the same command again to resume"),
], ids=["disk_full", "two_paths", "a_folder", "ctrl_c"])
def test_the_boundary_turns_expected_failures_into_one_line(capsys, exc, code, line):
    import typer

    with pytest.raises(typer.Exit) as info:
        _command(exc)()
    assert info.value.exit_code == code
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_bug_in_dfbench_shows_its_traceback_and_says_where_to_report_it(capsys):
    import typer

    with pytest.raises(typer.Exit) as info:
        _command(ZeroDivisionError("division by zero"))()
    err = capsys.readouterr().err
    assert info.value.exit_code == 3
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert err.splitlines()[-1].startswith("dfbench: error: internal error in dfbench") and "report it" in err
