"""The generation dashboard driven through its widgets on a tiny model with a prior: mode and count, a list of takes
with novelty, Next seed, Keep / Discard, and Save that writes only the kept takes and never over a file."""
import html, re
from pathlib import Path

import pytest
import soundfile as sf
import torch

from distill.generate import SamplingParams, default_mode, generate_sounds
from distill.modelfile import load_model
from distill.ui.generate import GenerationDashboard
from test_generate import model, setup   # noqa: F401 — the same tiny model with a prior (module fixtures)


def words(html_text: str) -> str:
    "What a person reads in an HTML value: its text, without tags."
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def _generate(dash, button=None, timeout=60):
    (button or dash.generate_button).click()
    dash.wait(timeout)
    assert not dash.running and "error" not in dash.status.value, dash.status.value
    return dash


def test_before_a_model_a_title_and_nothing_empty():
    dash = GenerationDashboard()
    assert "application/vnd.jupyter.widget-view+json" in dash._repr_mimebundle_()
    assert "distill-dashboard" in dash.widget._dom_classes and "Distill · generate" in dash.widget.children[0].value
    assert dash.generate_button.disabled and dash.next_seed_button.disabled and dash.save_button.disabled and dash.kit_button.disabled
    assert dash.mode.value is None and dash.takes == [] and dash.result is None
    # no player and no picture anywhere before the first take: only a line saying how to make one
    def widgets(w): return [w, *[d for c in getattr(w, "children", ()) for d in widgets(c)]]
    kinds = {type(w).__name__ for w in widgets(dash.widget)}
    assert not kinds & {"Audio", "Image"}, kinds
    assert dash.no_takes.layout.display is None and "No takes yet" in dash.no_takes.value
    assert dash.save_path.value == str(Path("distill_outputs") / "generated.wav")   # beside the notebook, not among the sounds


def test_without_a_prior_it_says_how_to_train_one(setup):
    dash = GenerationDashboard(setup[1])
    assert dash.generate_button.disabled and "has no prior yet" in dash.status.value
    assert "Train prior button" in words(dash.status.value) and "distill" not in words(dash.status.value)   # a button, not a command
    dash.model_path.value = str(setup[1].parent / "missing.distill")
    dash.load_button.click()
    assert "not found" in dash.status.value


def test_mode_starts_at_the_models_default_and_duration_reads_longest_for_one_shots(setup, model):
    dash = GenerationDashboard()
    dash.model_path.value = str(setup[2]); dash.load_button.click()
    assert dash.mode.value == default_mode(model) == "one-shot"            # the demo corpus is one-shots
    assert dash.duration.description == "Longest (s)" and dash.prompt.layout.display == "none"
    assert not dash.generate_button.disabled and "one-shot" in dash.mode_help.value
    # hiding Continue hides nothing else (widgets that shared one Layout once vanished with it)
    assert all(w.layout.display is None for w in (dash.model_path, dash.temperature, dash.top_p, dash.save_path, dash.count))
    dash.mode.value = "texture"
    assert dash.duration.description == "Seconds" and dash.prompt.layout.display is None


def test_takes_appear_with_player_spectrogram_and_novelty(model):
    dash = GenerationDashboard(model)
    dash.temperature.value, dash.top_k.value, dash.seed.value, dash.count.value, dash.duration.value = 0.9, 8, 11, 3, 1.0
    _generate(dash)
    assert "Made 3 one-shots (seeds 11–13)" in dash.status.value and dash.progress.value == 1.0
    assert [t.seed for t in dash.takes] == [11, 12, 13] and [t.number for t in dash.takes] == [1, 2, 3]
    assert dash.takes_box.children == tuple(t.widget for t in dash.takes) and dash.no_takes.layout.display == "none"
    # the dashboard shows exactly what the core makes with the same settings
    expected = list(generate_sounds(model, 3, "one-shot", 1.0, SamplingParams(temperature=0.9, top_k=8, seed=11)))
    for take, g in zip(dash.takes, expected):
        assert torch.equal(take.generated.audio, g.audio)
        assert take.player.value[:4] == b"RIFF" and take.player.layout.display is None and take.picture.value[:4] == b"\x89PNG"
        assert f"seed {g.sampling.seed} · {g.kind + ' · ' if g.kind else ''}one-shot · {g.duration:.2f} s" in take.header.value
        assert g.novelty is not None and html.escape(g.novelty.sentence()) in take.novelty.value
        assert f"why: {html.escape(g.novelty.reason())}" in take.novelty.value      # the verdict's reason, under it
        assert f"distill-{ {'new': 'green', 'variation': 'yellow', 'copy': 'red'}[g.novelty.verdict]}" in take.novelty.value
    assert dash.result is dash.takes[-1].generated


def test_next_seed_uses_a_seed_no_take_has_used(model):
    dash = GenerationDashboard(model)
    dash.seed.value, dash.count.value, dash.duration.value = 5, 2, 0.5
    _generate(dash)                                              # seeds 5, 6
    _generate(dash, dash.next_seed_button)
    assert [t.seed for t in dash.takes] == [5, 6, 7] and "Made 1 one-shot (seed 7)" in dash.status.value
    dash.takes[-1].discard_button.click()                        # a discarded seed stays used
    _generate(dash, dash.next_seed_button)
    assert [t.seed for t in dash.takes] == [5, 6, 8]
    dash.seed.value = 0
    _generate(dash, dash.next_seed_button)
    assert dash.takes[-1].seed == 0
    assert len({t.seed for t in dash.takes}) == len(dash.takes)


def test_generate_again_makes_new_takes_and_a_reloaded_model_keeps_its_seeds(model, setup, tmp_path, monkeypatch):
    "Pressing Generate twice drew seeds 0-1 twice (identical takes); loading the model again started over at seed 0."
    from distill.library import Library
    dash = GenerationDashboard(model)
    dash.count.value, dash.duration.value = 2, 0.5
    _generate(dash)
    _generate(dash)
    assert [t.seed for t in dash.takes] == [0, 1, 2, 3] and "Made 2 one-shots (seeds 2–3)" in dash.status.value
    assert len({t.generated.audio.numel() for t in dash.takes} | {bytes(t.player.value) for t in dash.takes}) > 1
    dash.seed.value, dash.count.value = 1, 1                      # a seed a take has used: Generate moves on and says so
    dash.generate_button.click()
    assert "from seed 4 (seeds 1–3 made takes already)" in dash.status.value
    dash.wait(60)
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "library"))
    Library().add(setup[2], "drums")
    dash.load_model(Library().load("drums"))                      # "Load into generator" from the library: the same model
    _generate(dash, dash.next_seed_button)
    assert [t.seed for t in dash.takes] == [0, 1, 2, 3, 4, 5]
    other = load_model(setup[1])                                  # another model starts at the Seed box again
    assert dash.seeds_used and GenerationDashboard(other).next_unused_seed() == 0


def test_add_to_library_works_for_any_loaded_model(model, setup, tmp_path, monkeypatch):
    from distill.library import Library
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path / "library"))
    dash = GenerationDashboard()
    assert dash.library.button.disabled                          # nothing loaded: nothing to add
    dash.model_path.value = str(setup[2]); dash.load_button.click()
    assert not dash.library.button.disabled and dash.library.name.value == Path(setup[2]).stem
    dash.library.name.value = "my drums"
    dash.library.button.click()
    assert "Added 'my drums' to the library" in dash.library.status.value and "my drums" in Library()
    assert Library().get("my drums").training_files == model.prior_training["corpus_files"]
    dash.load_model(Library().load("my drums")); dash.library.button.click()
    assert "'my drums' is in the library already" in dash.library.status.value and len(Library()) == 1


def test_discard_removes_a_take(model):
    dash = GenerationDashboard(model)
    dash.count.value, dash.duration.value = 3, 0.5
    _generate(dash)
    first, middle, last = dash.takes
    middle.discard_button.click()
    assert dash.takes == [first, last] and [t.number for t in dash.takes] == [1, 3]
    assert middle.widget not in dash.takes_box.children and len(dash.takes_box.children) == 2
    assert middle.player.comm is None                           # closed: the kernel lets go of its audio
    assert "Discarded take 2" in dash.status.value
    for take in list(dash.takes): take.discard_button.click()
    assert dash.takes == [] and dash.no_takes.layout.display is None


def test_save_writes_only_the_kept_takes_numbered_never_over_a_file(model, tmp_path):
    dash = GenerationDashboard(model)
    dash.count.value, dash.duration.value = 4, 0.5
    _generate(dash)
    dash.save_button.click()
    assert dash.save_button.disabled and "Nothing new to save" in dash.save_status.value and not list(tmp_path.iterdir())
    (tmp_path / "take.wav").write_bytes(b"somebody else's file")
    dash.save_path.value, dash.save_bits.value = str(tmp_path / "take.wav"), "24"
    first, third = dash.takes[0], dash.takes[2]
    first.keep_button.value = third.keep_button.value = True
    dash.takes[3].discard_button.click()
    assert not dash.save_button.disabled
    dash.save_button.click()
    assert (tmp_path / "take.wav").read_bytes() == b"somebody else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take-2.wav", "take-3.wav", "take.wav"]
    assert f"Saved 2 takes in {tmp_path}: take-2.wav (take 1), take-3.wav (take 3)." in dash.save_status.value
    for take, name in [(first, "take-2.wav"), (third, "take-3.wav")]:
        info = sf.info(str(tmp_path / name))
        assert info.subtype == "PCM_24" and info.frames == len(take.generated.audio)
        assert take.saved_to == tmp_path / name and f"saved as <code>{name}</code>" in take.header.value
    # saved takes are not written again; a newly kept one goes to the next free number
    assert dash.save_button.disabled
    dash.save_button.click()
    assert len(list(tmp_path.iterdir())) == 3 and "Nothing new to save" in dash.save_status.value
    dash.takes[1].keep_button.value = True
    dash.save_button.click()
    assert (tmp_path / "take-4.wav").exists() and "Saved 1 take in" in dash.save_status.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take-2.wav", "take-3.wav", "take-4.wav", "take.wav"]


def test_export_kit_writes_the_kept_takes_as_a_kit_and_says_where(model, tmp_path):
    import tarfile
    dash = GenerationDashboard(model)
    assert dash.kit_folder.value == "distill_outputs" and dash.kit_name.value == "with_prior"   # beside the notebook, named after the model
    dash.count.value, dash.duration.value, dash.seed.value = 3, 0.5, 20
    _generate(dash)
    assert dash.kit_button.disabled
    dash.save_kit()
    assert "Nothing to export" in dash.kit_status.value and not list(tmp_path.iterdir())
    first, third = dash.takes[0], dash.takes[2]
    first.keep_button.value = third.keep_button.value = True
    assert not dash.kit_button.disabled
    dash.kit_folder.value, dash.save_bits.value = str(tmp_path), "24"
    dash.kit_button.click()
    kit = tmp_path / "with_prior"
    wavs = sorted(p.name for p in kit.glob("*.wav"))          # named and laid out by kind (distill.export, the lead's issue 24)
    assert len(wavs) == 2 and sorted(p.name for p in kit.iterdir()) == wavs + ["drumkit.xml", "with_prior.h2drumkit", "with_prior.sfz"]
    assert "Exported takes 1, 3 as the kit with_prior: 2 sounds" in dash.kit_status.value and f"in {kit}: with_prior.sfz for samplers" in dash.kit_status.value
    assert "distill-status-ok" in dash.kit_status.value
    assert all(sf.info(str(kit / w)).subtype == "PCM_24" for w in wavs)
    assert sorted(sf.info(str(kit / w)).frames for w in wavs) == sorted(len(t.generated.audio) for t in (first, third))
    with tarfile.open(kit / "with_prior.h2drumkit") as tar: assert "with_prior/drumkit.xml" in tar.getnames()
    assert first.saved_to is None and not dash.save_button.disabled          # a kit is not Save: the takes stay unsaved
    # again: a second kit beside the first, never over it
    dash.kit_button.click()
    assert (tmp_path / "with_prior-2" / "with_prior-2.sfz").exists() and "as the kit with_prior-2" in dash.kit_status.value
    assert sorted(p.name for p in kit.glob("*.wav")) == wavs
    dash.kit_name.value = "bad/name"
    dash.kit_button.click()
    assert "plain folder name" in dash.kit_status.value and "distill-status-error" in dash.kit_status.value


def test_texture_continues_a_recording_and_reports_a_bad_prompt(setup, model, tmp_path):
    dash = GenerationDashboard(model)
    dash.mode.value, dash.duration.value, dash.count.value = "texture", 1.25, 2
    dash.prompt.value = str(next(Path(setup[0]).glob("*.wav")))
    _generate(dash)
    assert [round(t.generated.duration, 2) for t in dash.takes] == [1.25, 1.25] and [t.generated.mode for t in dash.takes] == ["texture"] * 2
    assert "novelty not checked: a continuation of" in dash.takes[0].novelty.value
    dash.prompt.value = str(tmp_path / "nope.wav")
    dash.generate_button.click(); dash.wait(60)
    assert "nope.wav" in dash.status.value and "error" in dash.status.value and len(dash.takes) == 2


def test_cancel_keeps_the_takes_already_made(model):
    dash = GenerationDashboard(model)
    dash.mode.value, dash.duration.value = "texture", 30.0
    dash.generate_button.click()
    dash.cancel_button.click()
    dash.wait(60)
    assert "Cancelled after 0 of 1" in dash.status.value and dash.takes == [] and dash.result is None
    assert not dash.generate_button.disabled and dash.cancel_button.disabled


# ---------------------------------------------------------------- issue 12: loop, download, words for people

def test_loop_plays_every_take_round_and_round(model):
    dash = GenerationDashboard(model)
    dash.count.value, dash.duration.value = 2, 0.5
    _generate(dash)
    assert not dash.loop.value and not any(t.player.loop for t in dash.takes)
    dash.loop.value = True
    assert all(t.player.loop for t in dash.takes) and dash.loop.button_style == "info"
    _generate(dash, dash.next_seed_button)                       # a take made while Loop is on loops too
    assert len(dash.takes) == 3 and dash.takes[-1].player.loop
    dash.loop.value = False
    assert not any(t.player.loop for t in dash.takes)


def test_each_take_has_a_download_link_holding_its_sound(model):
    import base64, io, re
    dash = GenerationDashboard(model)
    dash.count.value, dash.duration.value, dash.seed.value = 2, 0.5, 1234
    _generate(dash)
    for take in dash.takes:
        link = take.download.value
        name = re.search(r'download="([^"]+)"', link).group(1)
        assert name == f"take_{take.number}_seed_{take.seed}.wav" and name in ("take_1_seed_1234.wav", "take_2_seed_1235.wav")
        wav = base64.b64decode(re.search(r'href="data:audio/wav;base64,([^"]+)"', link).group(1))
        assert wav == take.player.value                          # what you download is what you heard
        audio, rate = sf.read(io.BytesIO(wav))
        assert rate == take.generated.sample_rate and len(audio) == len(take.generated.audio)
        assert take.download in take.widget.children[0].children[-1].children


def test_messages_speak_of_buttons_and_count_right(model, setup, tmp_path):
    dash = GenerationDashboard()
    said = [dash.status.value]
    dash.load_button.click(); said.append(dash.status.value)
    dash.load_model(load_model(setup[1])); said.append(dash.status.value)
    dash.load_model(model)
    dash.count.value, dash.duration.value = 1, 0.5
    dash.generate_button.click(); said.append(dash.status.value); dash.wait(60); said.append(dash.status.value)
    assert "Made 1 one-shot (seed 0)" in dash.status.value
    dash.count.value = 2
    _generate(dash); said.append(dash.status.value)
    assert "Made 2 one-shots (seeds 1–2)" in dash.status.value    # a new take each time: seed 0 made one already
    dash.save_button.click(); said.append(dash.save_status.value)
    dash.kit_button.click(); dash.save_kit(); said.append(dash.kit_status.value)
    dash.save_path.value, dash.kit_folder.value = str(tmp_path / "t.wav"), str(tmp_path)
    dash.takes[0].keep_button.value = True
    dash.save_button.click(); said.append(dash.save_status.value)
    assert "Saved 1 take in" in dash.save_status.value
    dash.save_kit(); said.append(dash.kit_status.value)
    assert "Exported take 1 as the kit" in dash.kit_status.value
    dash.takes[1].keep_button.value = True; dash.takes[2].keep_button.value = True
    dash.save_button.click(); said.append(dash.save_status.value)
    assert "Saved 2 takes in" in dash.save_status.value
    dash.takes[0].discard_button.click(); said.append(dash.status.value)
    for text in map(words, said):
        assert "--" not in text and not re.search(r"(?<![.\w-])distill\s", text), text   # no `distill COMMAND`, no --flag
        assert not re.search(r"\b1 (takes|one-shots|seeds|files)\b|\b([02-9]|\d\d+) (take|one-shot|seed)\b(?!s)", text), text
    # the title shows, and nothing empty before the first take (see test_before_a_model_a_title_and_nothing_empty)
    assert "Distill · generate" in GenerationDashboard().widget.children[0].value


def test_kind_menu_more_like_this_and_kit_takes(model):
    from distill.generate import generate_like, model_kinds
    dash = GenerationDashboard(model)
    assert [v for _, v in dash.kind.options] == [None, *model_kinds(model)] and not dash.kind.disabled
    assert dash.kind.options[1][0].startswith(f"{list(model_kinds(model))[0]} (")           # each kind with its file count
    dash.kind.value, dash.count.value, dash.duration.value, dash.seed.value = "snare", 2, 1.0, 20
    _generate(dash)
    assert [t.generated.kind for t in dash.takes] == ["snare", "snare"] and "Made 2 snare one-shots" in dash.status.value
    assert all("snare · one-shot" in t.header.value for t in dash.takes)
    # More like this on the first take: variations of it, seeds moved on past those used, at the prior's own temperature
    dash.takes[0].like_button.click(); dash.job.join(120)
    likes = dash.takes[2:]
    assert len(likes) == 2 and "variations of take 1" in dash.status.value
    expected = list(generate_like(model, dash.takes[0].generated, 2, duration=1.0, sampling=SamplingParams(seed=22)))
    assert [t.seed for t in likes] == [g.sampling.seed for g in expected]      # 22, 23 (+ 2 for each copy drawn again)
    assert all(torch.equal(t.generated.codes, g.codes) and t.generated.like == "seed 20" for t, g in zip(likes, expected))
    assert all(t.generated.sampling.temperature == 1.0 for t in likes)
    # Kit takes: a balanced set of the model's kinds, kept, ready for Export kit
    dash.count.value = 3
    dash.kit_takes_button.click(); dash.job.join(120)
    kit = dash.takes[4:]
    assert [t.generated.kind for t in kit] == ["kick", "snare", "closed hat"] and all(t.kept for t in kit)
    assert not dash.kit_button.disabled
