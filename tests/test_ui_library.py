"""The library browser driven as a person would: type, click, and read what the widgets show."""
import os, shutil
from pathlib import Path

import pytest

from distill.library import Library
from distill.modelfile import read_metadata, read_tensors, write_container
from distill.train import TrainParams, train_vqvae
from distill.ui.library import LibraryBrowser
from conftest import TINY


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
    b.has_prior.value = True
    assert shown(b) == ["with prior"]
    b.has_prior.value = False
    assert "with prior" not in shown(b) and len(b.entries) == 4
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
