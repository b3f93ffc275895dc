"""The library browser driven as a person would: type, click, and read what the widgets show."""
import os, shutil
from pathlib import Path

import pytest
import torch

from distill.library import Library, readable_date
from distill.modelfile import read_metadata, read_tensors, write_container
from distill.train import TrainParams, train_vqvae
from distill.ui.library import LibraryBrowser
from conftest import TINY
from test_generate import setup   # noqa: F401 — a tiny model with a tiny prior (module fixture)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "Two tiny models really trained (one short epoch): one on a folder called drums, one on pads."
    from distill.data import synth_demo_corpus
    root = tmp_path_factory.mktemp("trained")
    out = {}
    for i, kind in enumerate(["drums", "pads"]):
        synth_demo_corpus(root / kind, n_files=6, seed=i)
        out[kind] = root / f"{kind}.distill"
        for _ in train_vqvae(root / kind, out[kind], params=TrainParams(epochs=1, batch_size=8, min_steps_per_epoch=1, augment=False, seed=i), **TINY):
            pass
    return out


class Dashboard:
    "Stands in for the generation or codes dashboard."
    def __init__(self): self.models = []
    def load_model(self, model): self.models.append(model)


@pytest.fixture
def five(tmp_path, trained):
    lib = Library(tmp_path / "lib")
    lib.add(trained["drums"], "kit", tags=["909"], description="tight kicks")
    for name in ("pads a", "pads b", "strings"): lib.add(trained["pads"], name)
    meta = read_metadata(trained["pads"]); meta["prior_config"] = {"layers": 1}   # only the flag matters here
    lib.add(write_container(tmp_path / "p.distill", read_tensors(trained["pads"]), meta), "with prior", tags=["ready"])
    return lib


def shown(browser): return [e.name for e in browser.entries]


def test_done_when_find_drums_see_health_load_delete_and_survive_a_lost_index(five):
    generation, codes = Dashboard(), Dashboard()
    b = LibraryBrowser(five, targets={"generation": generation, "codes": codes})
    assert len(b.entries) == 5 and "5 models" in b.count.value
    b.search.value = "drum"
    assert shown(b) == ["kit"] and "1 model (of 5)" in b.count.value
    kit = five.get("kit")
    b.row_buttons["kit"].click()
    assert b.selected.name == "kit" and b.row_buttons["kit"].button_style == "info"
    assert f"distill-{kit.health}" in b.light.value and kit.health_sentence.split(":")[0] in b.light.value
    assert b.health_table.value.count("<tr>") == 1 + 3 and bytes(b.heatmap.value[:4]) == b"\x89PNG"
    assert "tight kicks" in b.details.value and "909" in b.details.value and "drums" in b.details.value
    b.load_buttons["generation"].click()
    assert [m.name for m in generation.models] == ["kit"] and codes.models == []
    assert generation.models[0].identity == kit.weights_hash and "Loaded kit into the generation dashboard" in b.status.value

    b.search.value = ""
    b.row_buttons["strings"].click()
    b.delete_button.click()
    assert "Delete strings?" in b.confirm_text.value and "strings" in five     # nothing happens before the second click
    b.confirm_delete_button.click()
    assert "strings" not in five and not (five.root / "strings.distill").exists() and "strings" not in b.row_buttons
    assert b.selected is None and b.details_box.layout.display == "none"

    five.index_path.unlink()                                                    # the index deleted by hand
    b.refresh_button.click()
    assert sorted(shown(b)) == ["kit", "pads a", "pads b", "with prior"]
    assert five.get("kit").tags == ["909"] and five.get("with prior").tags == ["ready"]


def test_confirmation_belongs_to_the_model_it_names(five):
    b = LibraryBrowser(five)
    b.row_buttons["pads a"].click(); b.delete_button.click()
    b.row_buttons["pads b"].click()                 # opening another model withdraws the question
    assert b.confirm_box.layout.display == "none"
    b.confirm_delete_button.click()
    assert "pads a" in five and "pads b" in five
    b.delete_button.click(); b.cancel_delete_button.click(); b.confirm_delete_button.click()
    assert "pads b" in five


def test_sorting_by_headings_and_filtering_by_prior(five):
    b = LibraryBrowser(five)
    b.header_buttons["name"].click()
    assert shown(b) == ["kit", "pads a", "pads b", "strings", "with prior"] and "▼" in b.header_buttons["name"].description
    b.header_buttons["name"].click()
    assert shown(b) == ["with prior", "strings", "pads b", "pads a", "kit"] and "▲" in b.header_buttons["name"].description
    b.header_buttons["size"].click()
    sizes = [e.file_size for e in b.entries]
    assert sizes == sorted(sizes, reverse=True)
    b.header_buttons["health"].click()
    order = {"green": 0, "yellow": 1, "red": 2, "unknown": 3}
    lights = [e.health for e in b.entries]
    assert lights == sorted(lights, key=order.get)
    b.has_prior.value = "with"
    assert shown(b) == ["with prior"] and b.has_prior.label == "with a prior"
    b.has_prior.value = "without"
    assert "with prior" not in shown(b) and len(b.entries) == 4
    b.has_prior.value = "all"
    assert len(b.entries) == 5
    b.search.value = "zzz"
    assert b.entries == [] and "No model matches" in b.count.value


def test_rename_and_retag_from_the_details_pane(five):
    b = LibraryBrowser(five)
    b.row_buttons["pads a"].click()
    assert (b.new_name.value, b.tags.value) == ("pads a", "")
    b.new_name.value = "warm pads"; b.rename_button.click()
    assert "warm pads" in five and "pads a" not in five and b.selected.name == "warm pads"
    assert "warm pads" in b.row_buttons and "warm pads.distill" in b.details.value
    b.tags.value = "ambient, slow,ambient"; b.description.value = "long release"; b.save_button.click()
    entry = five.get("warm pads")
    assert (entry.tags, entry.description) == (["ambient", "slow"], "long release") and b.tags.value == "ambient, slow"
    b.search.value = "slow"
    assert shown(b) == ["warm pads"]
    # refusals end up in the status line, and change nothing
    for bad in ["../out", ".hidden", "kit", ""]:
        b.new_name.value = bad; b.rename_button.click()
        assert "✖" in b.status.value and "warm pads" in five
    b.tags.value = "x" * 50; b.save_button.click()
    assert "tag" in b.status.value and five.get("warm pads").tags == ["ambient", "slow"]


def test_files_changed_by_hand_show_up_on_refresh(five, trained):
    b = LibraryBrowser(five)
    shutil.copy(trained["drums"], five.root / "dropped.distill")
    (five.root / "broken.distill").write_bytes(b"\0" * 64)
    b.refresh_button.click()
    assert "dropped" in shown(b) and "broken.distill" in b.skipped.value and "could not be read" in b.skipped.value
    b.row_buttons["pads b"].click()
    (five.root / "pads b.distill").unlink()                      # deleted by hand while open
    b.load_buttons.clear()
    b.refresh_button.click()
    assert "pads b" not in shown(b) and b.selected is None


def test_errors_become_the_status_line(five):
    def broken(model): raise ValueError("the codes dashboard is busy")
    b = LibraryBrowser(five, targets={"codes": broken})           # a plain function works as a target too
    b.row_buttons["kit"].click()
    b.load_buttons["codes"].click()
    assert "the codes dashboard is busy" in b.status.value and "✖" in b.status.value
    os.unlink(five.root / "kit.distill")
    b.load_buttons["codes"].click()
    assert "no model called 'kit'" in b.status.value


def test_an_empty_library_says_how_to_fill_it(tmp_path):
    b = LibraryBrowser(Library(tmp_path / "empty"))
    assert b.entries == [] and "No models in the library yet" in b.count.value
    b.delete_button.click()
    assert "Open a model first" in b.status.value


def test_the_browser_shows_itself_as_the_last_expression_of_a_cell(tmp_path):
    browser = LibraryBrowser(Library(tmp_path / "library"))
    assert "application/vnd.jupyter.widget-view+json" in browser._repr_mimebundle_()
    assert {"distill-dashboard", "distill-library"} <= set(browser.widget._dom_classes)


# ---------------------------------------------------------------- issue 12: what a first-time user could not read

def test_the_prior_filter_and_every_heading_read_fully(five):
    b = LibraryBrowser(five)
    # a Dropdown whose value is None shows no label at all: "all models" must be a real value
    assert (b.has_prior.description, b.has_prior.index, b.has_prior.label) == ("Prior", 0, "all models")
    assert [label for label, _ in b.has_prior.options] == ["all models", "with a prior", "without a prior"]
    # each heading, with its sort arrow, fits its column: ~8 px a character, plus 16 px of padding on a sort button
    from distill.ui.library import _COLUMNS
    widths = [int(w.removesuffix("px")) for w in b.table.layout.grid_template_columns.split()]
    assert len(widths) == len(_COLUMNS)
    for key in b.header_buttons: b.sort_by(key)                 # every heading shows its arrow once
    for (key, label, _), width in zip(_COLUMNS, widths):
        needed = 8 * len(f"{label} ▼") + 16 if key else 8 * len(label)
        assert label and width >= needed, (label, width)
    assert b.table.children[0] is b.header_buttons["health"] and b.header_buttons["health"].description.startswith("●")
    assert "distill-sort" in b.header_buttons["health"]._dom_classes


def test_dates_are_readable_and_the_hash_is_not_shown(five):
    b = LibraryBrowser(five)
    b.row_buttons["kit"].click()
    kit = five.get("kit")
    assert readable_date(kit.created) in b.details.value and readable_date(kit.added) in b.details.value
    visible = b.details.value.replace(f'title="{kit.created}"', "").replace(f'title="{kit.added}"', "")
    assert kit.created not in visible and kit.added not in visible          # the exact ISO time only in a tooltip
    assert "weights" not in b.details.value and kit.weights_hash[:6] not in b.details.value
    assert kit.weights_hash                                                 # still known to the core
    from distill.ui.library import _COLUMNS
    n = len(_COLUMNS)
    trained = [c.value for c in b.table.children[n + n - 1::n]]           # the last column of each row
    assert len(trained) == len(b.entries) == 5
    for e, cell in zip(b.entries, trained):
        assert f'title="{e.created}">{readable_date(e.created)}<' in cell  # readable, with the exact time in its tooltip


def test_a_search_hit_says_why_it_matched(five):
    b = LibraryBrowser(five)
    assert b.matches == {}                                                  # no search, no reasons
    b.search.value = "drum"
    assert shown(b) == ["kit"] and b.matches == {"kit": "matched: dataset folder …/drums"}
    notes = [c for c in b.table.children if "distill-match" in getattr(c, "value", "")]
    assert len(notes) == 1 and "matched: dataset folder …/drums" in notes[0].value and notes[0].layout.grid_column == "2 / -1"
    b.search.value = "909 tight"
    assert b.matches == {"kit": "matched: tag 909; description “tight kicks”"}
    b.search.value = "prior"
    assert b.matches["with prior"] == "matched: name"
    b.search.value = ""
    assert b.matches == {} and not [c for c in b.table.children if "distill-match" in getattr(c, "value", "")]


def test_load_buttons_by_default_reach_the_newest_dashboard_open_in_the_notebook(five, monkeypatch):
    import distill.ui.library as ui_library
    from distill.ui.codes import CodesEditor
    from distill.ui.generate import GenerationDashboard
    older, newest, editor = GenerationDashboard(), GenerationDashboard(), CodesEditor()
    b = LibraryBrowser(five)                                                # no targets=
    assert list(b.load_buttons) == ["generator", "codes editor"]
    assert [d for d in ui_library.open_dashboards(GenerationDashboard) if d in (older, newest)] == [older, newest]
    b.row_buttons["kit"].click()
    b.load_buttons["generator"].click()
    assert newest.model.name == "kit" and older.model is None and "Loaded kit into the generator open in the notebook" in b.status.value
    b.load_buttons["codes editor"].click()
    assert editor.model.name == "kit" and editor.model.identity == five.get("kit").weights_hash
    # a closed dashboard is not open any more: the next newest gets the model
    from distill.ui.common import close_widgets
    close_widgets(newest.widget)
    b.row_buttons["pads a"].click(); b.load_buttons["generator"].click()
    assert older.model.name == "pads a" and newest.model.name == "kit"
    # none open: one opens under the browser, and the next Load goes into it
    monkeypatch.setattr(ui_library, "open_dashboards", lambda kind: [])
    b.load_buttons["generator"].click()
    assert b.opened.layout.display is None and len(b.opened.children) == 1 and "into a new generator below" in b.status.value
    monkeypatch.undo()
    below = ui_library.open_dashboards(GenerationDashboard)[-1]
    assert below.widget is b.opened.children[0] and below.model.name == "pads a"
    b.row_buttons["kit"].click(); b.load_buttons["generator"].click()
    assert below.model.name == "kit"


def test_listen_is_off_without_a_prior_and_says_why(five):
    b = LibraryBrowser(five)
    b.row_buttons["kit"].click()
    assert b.listen_button.disabled and "Train prior button" in b.listen_note.value
    assert b.listen_player.layout.display == "none"                         # never an empty player
    b.listen()
    assert "kit has no prior yet" in b.status.value and "✖" in b.status.value and b.job is None


def test_listen_makes_sounds_with_the_prior_once_then_plays_them_again(tmp_path, setup, monkeypatch):
    from distill.library import PREVIEW_SOUNDS, preview_sounds
    from distill.modelfile import load_model
    lib = Library(tmp_path / "lib")
    entry = lib.add(setup[2], "ready")
    b = LibraryBrowser(lib, targets={})
    played = []
    monkeypatch.setattr(b.listen_player, "send", lambda content, buffers=None: played.append(content))
    b.row_buttons["ready"].click()
    assert not b.listen_button.disabled and b.listen_player.layout.display == "none" and "make 3 short sounds" in b.listen_note.value
    b.listen_button.click()
    b.wait(120)
    assert f"Made {PREVIEW_SOUNDS} sounds with ready: playing them" in b.status.value and not b.listen_button.disabled
    assert played == [{"play": True}]                                # Listen plays them: no player left to press
    audio, rate = b.previews[("ready", entry.weights_hash)]
    expected, expected_rate = preview_sounds(load_model(setup[2]))   # what the core makes: seeds 0, 1, 2 with short silences
    assert rate == expected_rate and torch.equal(audio, expected)
    assert b.listen_player.value[:4] == b"RIFF" and b.listen_player.layout.display is None and "seeds 0–2" in b.listen_note.value
    # again, or after opening another model and coming back: the stored sounds, made no second time
    job = b.job
    b.listen_button.click()
    assert b.job is job and "Playing the sounds made by ready" in b.status.value and len(played) == 2
    lib.add(setup[1], "bare"); b.refresh()
    b.row_buttons["bare"].click()
    assert b.listen_player.layout.display == "none" and b.listen_button.disabled
    b.row_buttons["ready"].click()
    assert b.listen_player.layout.display is None and b.job is job


def test_a_model_file_on_disk_can_be_added_and_is_found_by_its_training_files(tmp_path, setup, monkeypatch):
    "No dashboard could add a model already on disk; a search for what it was trained on found nothing."
    from distill.modelfile import load_model
    lib = Library(tmp_path / "lib")
    b = LibraryBrowser(lib, targets={})
    assert "No models in the library yet" in b.count.value
    b.add_path.value = str(setup[2])
    assert b.adder.name.value == Path(setup[2]).stem                 # the name starts as the file's
    b.adder.name.value = "my hits"
    b.adder.button.click()
    assert "Added 'my hits' to the library" in b.status.value and b.selected.name == "my hits" and shown(b) == ["my hits"]
    first = load_model(setup[2]).prior_training["corpus_files"][0]
    assert "trained on" in b.details.value and Path(first).name in b.details.value
    b.search.value = Path(first).stem.split("_")[0]                  # the demo corpus names its files kick_000.wav, …
    assert shown(b) == ["my hits"] and "training file" in b.matches["my hits"]
    b.add_path.value = str(tmp_path / "nowhere.distill")
    b.adder.button.click()
    assert "nowhere.distill: model file not found" in b.status.value and len(lib) == 1
    # or picked with Choose…: written beside the notebook, then added
    import datetime
    monkeypatch.chdir(tmp_path)
    data = Path(setup[1]).read_bytes()
    b.add_chooser.value = ({"name": "picked.distill", "type": "", "size": len(data), "content": memoryview(data),
                            "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert Path(b.add_path.value) == Path("distill_outputs") / "uploads" / "picked.distill" and b.adder.name.value == "picked"
    b.adder.button.click()
    assert "picked" in lib and b.selected.name == "picked"
