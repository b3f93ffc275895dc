"""The model library: round trips, search, a damaged or missing index, files changed by hand, two processes at
once, hostile names, and the issue's "done when" scenario."""
import json, os, shutil, sqlite3, subprocess, sys, textwrap, time
from pathlib import Path

import pytest
import torch

from distill.health import health_verdict
from distill.library import Library, LibraryEntry, LibraryError, library_home, read_entry, stored_levels
from distill.modelfile import load_model, read_metadata, read_tensors, write_container, ModelFileError
from distill.train import TrainParams, train_vqvae
from conftest import TINY


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    "Tiny models really trained (one short epoch) on synthesised corpora in folders named drums, pads and bells."
    from distill.data import synth_demo_corpus
    root = tmp_path_factory.mktemp("trained")
    out = {}
    for i, kind in enumerate(["drums", "pads", "bells"]):
        synth_demo_corpus(root / "samples" / kind, n_files=6, seed=i)
        path = root / f"{kind}.distill"
        for _ in train_vqvae(root / "samples" / kind, path, params=TrainParams(epochs=1, batch_size=8, min_steps_per_epoch=1, augment=False, seed=i), **TINY):
            pass
        out[kind] = path
    return out


def with_prior_flag(src, dst):
    "A copy of a model file whose metadata says it has a prior (the library only reads the flag)."
    meta = {k: v for k, v in read_metadata(src).items()}
    meta["prior_config"] = {"layers": 1}
    return write_container(dst, read_tensors(src), meta)


@pytest.fixture
def lib(tmp_path):
    return Library(tmp_path / "lib")


def names(entries): return [e.name for e in entries]


# ---------------------------------------------------------------- round trips

def test_library_home_follows_distill_home(tmp_path):
    # conftest points DISTILL_HOME at a scratch folder for every test
    assert library_home() == Path(os.environ["DISTILL_HOME"])
    lib = Library()
    assert lib.root == library_home() and lib.root.is_dir()


def test_add_get_load_delete_round_trip(lib, models):
    entry = lib.add(models["drums"], "my drums", tags="kit, acoustic", description="909 kicks and snares")
    assert isinstance(entry, LibraryEntry)
    assert entry.path == lib.root / "my drums.distill" and entry.path.exists() and models["drums"].exists()
    assert (entry.tags, entry.description, entry.levels, entry.codebook_size, entry.has_prior) == (["kit", "acoustic"], "909 kicks and snares", 3, 16, False)
    assert entry.dataset["folder"].endswith("drums") and entry.dataset["files"] == 6
    assert entry.file_size == entry.path.stat().st_size and entry.created and entry.added
    assert lib.get("my drums") == entry and lib.path("my drums") == entry.path

    original, loaded = load_model(models["drums"]), lib.load("my drums")
    assert loaded.name == "my drums" and loaded.identity == original.identity == entry.weights_hash
    assert torch.equal(loaded.usage, original.usage) and loaded.metrics == original.metrics and loaded.dataset == original.dataset
    json.dumps(entry.to_dict())                     # what `--json` prints

    lib.delete("my drums")
    assert not entry.path.exists() and lib.list() == [] and "my drums" not in lib
    with pytest.raises(LibraryError, match="no model called 'my drums'"): lib.get("my drums")
    with pytest.raises(LibraryError, match="no model called"): lib.delete("my drums")


def test_add_keeps_every_tensor_and_metadata_field(lib, models):
    entry = lib.add(models["pads"], "pads", tags=["soft"])
    before, after = read_metadata(models["pads"]), read_metadata(entry.path)
    assert after.pop("extra")["library"]["tags"] == ["soft"]
    before.pop("extra", None)
    assert after == before
    t1, t2 = read_tensors(models["pads"]), read_tensors(entry.path)
    assert t1.keys() == t2.keys() and all(torch.equal(t1[k], t2[k]) for k in t1)


def test_move_overwrite_and_save_from_memory(lib, models, tmp_path):
    moved = shutil.copy(models["bells"], tmp_path / "to_move.distill")
    lib.add(moved, "bells", move=True)
    assert not Path(moved).exists()
    with pytest.raises(LibraryError, match="already has a model called 'bells'"): lib.add(models["pads"], "bells")
    assert lib.get("bells").weights_hash == read_metadata(models["bells"])["weights_hash"]
    assert lib.add(models["pads"], "bells", tags="replaced", overwrite=True).weights_hash == read_metadata(models["pads"])["weights_hash"]

    model = load_model(models["drums"])
    entry = lib.save(model, "from memory", tags=["x"])
    assert model.path == entry.path and lib.load("from memory").identity == model.identity
    assert sorted(p.name for p in lib.root.iterdir()) == ["bells.distill", "from memory.distill", "index.sqlite"]


def test_add_refuses_what_is_not_a_model(lib, tmp_path):
    (tmp_path / "junk.distill").write_bytes(os.urandom(500))
    with pytest.raises(ModelFileError, match="junk.distill: not a readable Distill model"): lib.add(tmp_path / "junk.distill", "junk")
    with pytest.raises(ModelFileError, match="not found"): lib.add(tmp_path / "missing.distill", "missing")
    assert [p.name for p in lib.root.iterdir() if p.name != "index.sqlite"] == []


def test_rename_retag_describe(lib, models):
    lib.add(models["drums"], "drums")
    lib.add(models["pads"], "pads")
    assert lib.retag("drums", ["kit", "Kit", " loops "]).tags == ["kit", "loops"]
    assert lib.describe("drums", "dry room").description == "dry room"
    renamed = lib.rename("drums", "drum kit")
    assert renamed.name == "drum kit" and renamed.tags == ["kit", "loops"] and renamed.description == "dry room"
    assert not (lib.root / "drums.distill").exists() and names(lib.list(sort="name")) == ["drum kit", "pads"]
    with pytest.raises(LibraryError, match="already has a model called 'pads'"): lib.rename("drum kit", "pads")
    with pytest.raises(LibraryError, match="did you mean 'drum kit'"): lib.retag("drum kits", [])
    assert lib.load("drum kit").name == "drum kit"


# ---------------------------------------------------------------- search, sort, filter

@pytest.fixture
def five(lib, models, tmp_path):
    "Five models: one trained on drums, the others on pads and bells, one with a prior."
    lib.add(models["drums"], "kit-a", tags=["909"], description="tight")
    lib.add(models["pads"], "warm", tags=["ambient"])
    lib.add(models["pads"], "cold", description="glassy pads")
    lib.add(models["bells"], "bells", tags=["Metal", "percussive"])
    lib.add(with_prior_flag(models["bells"], tmp_path / "p.distill"), "bells with prior")
    return lib


def test_search_over_name_tags_description_and_dataset(five):
    assert names(five.search("drum")) == ["kit-a"]                       # only its dataset folder says drums
    assert names(five.search("DRUM")) == ["kit-a"]
    assert names(five.search("metal")) == ["bells"]                      # a tag, any case
    assert names(five.search("glassy")) == ["cold"]                      # the description
    assert names(five.search("bells", sort="name")) == ["bells", "bells with prior"]
    assert names(five.search("bells percussive")) == ["bells"]           # every word must match
    assert names(five.search("pads", sort="name")) == ["cold", "warm"]   # dataset folder
    assert five.search("zzz") == [] and len(five.search("")) == 5
    assert names(five.search("bells", has_prior=True)) == ["bells with prior"]
    assert names(five.search("bells", has_prior=False)) == ["bells"]
    assert names(five.list(has_prior=True)) == ["bells with prior"] and len(five.list(has_prior=False)) == 4


def test_every_search_hit_says_which_fields_matched(five):
    from distill.library import match_sentence, search_matches
    reasons = {e.name: match_sentence(search_matches(e, q)) for q in ["drum", "metal", "glassy", "bells percussive"] for e in five.search(q)}
    assert reasons["kit-a"] == "matched: dataset folder …/drums"            # nothing the user typed as a name: the folder explains it
    assert reasons["bells"] == "matched: name; tag percussive; dataset folder …/bells"
    assert reasons["cold"] == "matched: description “glassy pads”"
    # a field named by `search_matches` holds a query word, and every hit has at least one for each word
    for q in ["pads", "bells", "909 tight", "a"]:
        for e in five.search(q):
            found = search_matches(e, q)
            assert found and all(any(w in m.text.casefold() for m in found) for w in q.casefold().split())


@pytest.fixture(scope="module")
def with_prior(tmp_path_factory, models):
    "The drums model with a tiny prior trained on its folder: the prior records the files it learned from."
    from distill.prior import PriorTrainParams, train_prior
    path = tmp_path_factory.mktemp("prior") / "drums_prior.distill"
    shutil.copy(models["drums"], path)
    folder = read_metadata(models["drums"])["dataset"]["folder"]
    for _ in train_prior(path, folder, PriorTrainParams(epochs=1, batch_size=8, min_steps_per_epoch=2, device="cpu"),
                         d_model=32, n_layers=1, n_heads=2, window=16):
        pass
    return path


def test_search_finds_a_model_by_the_files_it_was_trained_on(lib, with_prior):
    from distill.library import match_sentence, search_matches
    entry = lib.add(with_prior, "untitled")                          # a name, tags and folder that say nothing of the files
    files = load_model(with_prior).prior_training["corpus_files"]
    assert entry.training_files == files and len(files) >= 4
    word = Path(files[0]).stem.split("_")[0]                         # the demo corpus names its files kick_000.wav, …
    assert word not in entry.dataset["folder"] and names(lib.search(word)) == ["untitled"]
    assert f"training file {files[0]}" in match_sentence(search_matches(entry, word))
    assert names(lib.search(f"drums {word}")) == ["untitled"]        # one word in the folder, one in a file name
    lib.rebuild()                                                    # the index keeps them through a rebuild
    assert lib.get("untitled").training_files == files and names(lib.search(word)) == ["untitled"]


def test_an_index_of_the_older_layout_is_rebuilt_with_what_models_were_trained_on(lib, with_prior):
    lib.add(with_prior, "untitled")
    with sqlite3.connect(lib.index_path) as con: con.execute("PRAGMA user_version = 1")   # an index written before files were kept
    again = Library(lib.root)
    assert again.get("untitled").training_files and len(again) == 1


def test_preview_sounds_are_the_priors_first_seeds_one_after_another(with_prior):
    from distill.generate import SamplingParams, generate_sounds
    from distill.library import PREVIEW_GAP, preview_sounds
    model = load_model(with_prior)
    audio, rate = preview_sounds(model, count=2, seconds=0.5)
    first, second = generate_sounds(model, 2, None, 0.5, SamplingParams(seed=0), novelty=False)
    gap = int(PREVIEW_GAP * rate)
    assert rate == first.sample_rate and len(audio) == len(first.audio) + gap + len(second.audio)
    assert torch.equal(audio[:len(first.audio)], first.audio) and torch.equal(audio[-len(second.audio):], second.audio)
    assert not audio[len(first.audio):len(first.audio) + gap].any()   # silence between them


def test_dates_read_as_people_say_them():
    import datetime
    from distill.library import readable_date
    utc = datetime.timezone.utc
    now = datetime.datetime(2026, 11, 29, 19, 30, tzinfo=utc)
    assert readable_date("2026-11-29T19:07:11+00:00", now) == "today 19:07"
    assert readable_date("2026-11-28T19:07:11+00:00", now) == "yesterday 19:07"
    assert readable_date("2026-11-27T19:07:11+00:00", now) == "2 days ago"
    assert readable_date("2026-11-22T19:07:11+00:00", now) == "22 Nov 2026, 19:07"
    assert readable_date("2026-11-29T19:07:11+00:00", now.astimezone(datetime.timezone(datetime.timedelta(hours=-8)))) == "today 11:07"
    assert readable_date("", now) == "unknown"
    just_now = datetime.datetime.now(utc).replace(microsecond=0)
    assert readable_date(just_now.isoformat()) == f"today {just_now.astimezone():%H:%M}"   # without `now`: the local clock


def test_sorting_and_health(five, models):
    assert names(five.list(sort="name")) == ["bells", "bells with prior", "cold", "kit-a", "warm"]
    assert names(five.list(sort="name", reverse=True)) == ["warm", "kit-a", "cold", "bells with prior", "bells"]
    order = {"green": 0, "yellow": 1, "red": 2}
    lights = [e.health for e in five.list(sort="health")]
    assert lights == sorted(lights, key=order.get)
    sizes = [e.file_size for e in five.list(sort="size")]
    assert sizes == sorted(sizes, reverse=True)
    with pytest.raises(LibraryError, match="choose one of created, name, health, size"): five.list(sort="colour")
    # the light is the one verdict function's, from the levels training stored
    e = five.get("kit-a")
    verdict = health_verdict(stored_levels(read_metadata(models["drums"])))
    assert (e.health, e.health_sentence) == (verdict.light, verdict.sentence) and e.health in order
    assert [l.role for l in five.level_health("kit-a")] == ["Structure", "Timbre", "Detail"]
    assert five.usage("kit-a").shape == (3, 16)


# ---------------------------------------------------------------- a damaged or missing index, files changed by hand

def snapshot(lib):
    return [(e.name, e.tags, e.description, e.has_prior, e.health, e.weights_hash, e.added) for e in lib.list(sort="name")]


def damage_index(index: Path, how: str):
    if how == "deleted": index.unlink()
    elif how == "garbage": index.write_bytes(os.urandom(4096))
    elif how == "truncated": index.write_bytes(index.read_bytes()[:1500])
    elif how == "emptied": index.write_bytes(b"")
    else:
        with sqlite3.connect(index) as con: con.execute("DROP TABLE models")


@pytest.mark.parametrize("damage", ["deleted", "garbage", "truncated", "emptied", "table dropped"])
def test_damaged_or_missing_index_is_rebuilt_with_nothing_lost(five, damage):
    five.retag("warm", ["ambient", "slow"]); five.describe("bells", "tubular"); five.rename("cold", "icy")
    before = snapshot(five)
    damage_index(five.index_path, damage)
    assert snapshot(five) == before                         # the same object, which checked the index earlier
    damage_index(five.index_path, damage)
    assert snapshot(Library(five.root)) == before          # a fresh process
    assert five.rebuild() == 5 and snapshot(five) == before


def test_files_added_or_removed_by_hand_are_noticed(five, models):
    shutil.copy(models["drums"], five.root / "dropped in.distill")
    (five.root / "warm.distill").unlink()
    assert names(five.list(sort="name")) == ["bells", "bells with prior", "cold", "dropped in", "kit-a"]
    assert names(five.search("drum", sort="name")) == ["dropped in", "kit-a"]
    # a file replaced by hand with another model is re-read
    shutil.copy(models["drums"], five.root / "cold.distill")
    assert five.get("cold").weights_hash == read_metadata(models["drums"])["weights_hash"] and five.get("cold").tags == []
    # files the library cannot index are reported, not fatal
    (five.root / "broken.distill").write_bytes(b"\0" * 64)
    shutil.copy(models["pads"], five.root / "what?.distill")
    assert len(five.list()) == 5
    assert sorted(p.name for p, _ in five.skipped) == ["broken.distill", "what?.distill"]
    assert "not a readable Distill model" in dict((p.name, w) for p, w in five.skipped)["broken.distill"]
    assert "rename the file" in dict((p.name, w) for p, w in five.skipped)["what?.distill"]


def test_interrupted_writes_leave_no_trace_in_listings(five):
    (five.root / ".kit-a.abc.adding").write_bytes(b"partial")
    (five.root / ".warm.distill.xyz.part.distill").write_bytes(b"partial")
    assert len(five.list()) == 5 and five.skipped == []
    old = time.time() - 7200
    for p in five.root.glob(".*"): os.utime(p, (old, old))
    five.rebuild()
    assert not list(five.root.glob(".*"))


# ---------------------------------------------------------------- two processes at once

WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from distill.library import Library, LibraryError
    root, src, who, go = sys.argv[1:]
    lib = Library(root)
    Path(go + "." + who).touch()                  # ready: imports done
    while not os.path.exists(go): time.sleep(0.001)
    t0 = time.time()
    for i in range(8):
        lib.add(src, f"{who}-{i}", tags=[who])
        lib.list()
        if i % 2: lib.retag(f"{who}-{i}", [who, "odd"])
    try: lib.add(src, "contested", tags=[who]); print("won", t0, time.time())
    except LibraryError: print("lost", t0, time.time())
""")


def test_two_processes_saving_at_once_lose_nothing(tmp_path, models):
    root, go = tmp_path / "shared lib", tmp_path / "go"
    writers = [("alice", "drums"), ("bob", "pads")]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(models[src]), who, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who, src in writers]
    deadline = time.time() + 120
    while not all(Path(f"{go}.{who}").exists() for who, _ in writers) and time.time() < deadline: time.sleep(0.01)
    go.touch()                          # both have imported everything: they start writing together
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    results = [out.split() for out, _ in outs]
    assert sorted(r[0] for r in results) == ["lost", "won"]
    (s1, e1), (s2, e2) = [(float(r[1]), float(r[2])) for r in results]
    assert s1 < e2 and s2 < e1, "the two writers did not overlap in time"

    lib = Library(root)
    expected = {f"{who}-{i}": [who, "odd"] if i % 2 else [who] for who, _ in writers for i in range(8)}
    listed = {e.name: e.tags for e in lib.list() if e.name != "contested"}
    assert listed == expected and len(lib.list()) == 17
    winner = lib.get("contested").tags[0]
    assert lib.get("contested").weights_hash == read_metadata(models[dict(writers)[winner]])["weights_hash"]
    lib.index_path.unlink()
    assert {e.name: e.tags for e in lib.list() if e.name != "contested"} == expected
    assert not list(root.glob(".*"))   # no temporary files left behind


# ---------------------------------------------------------------- hostile names

HOSTILE = ["../x", "a/b", "/etc/passwd", "a\\b", "", "  ", ".hidden", "..", "x" * 101, "x.distill", "nul", "a\nb", "tab\there", "../../evil"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(lib, models, tmp_path, name):
    lib.add(models["drums"], "good")
    before = sorted(tmp_path.rglob("*"))
    for attempt in (lambda: lib.add(models["drums"], name), lambda: lib.rename("good", name), lambda: lib.get(name),
                    lambda: lib.delete(name), lambda: lib.retag(name, ["t"]), lambda: lib.load(name)):
        with pytest.raises(LibraryError, match="model name"):
            attempt()
    assert sorted(tmp_path.rglob("*")) == before and names(lib.list()) == ["good"] and name not in lib


def test_bad_tags_are_refused(lib, models):
    with pytest.raises(LibraryError, match="tag"): lib.add(models["drums"], "x", tags=["a\nb"])
    with pytest.raises(LibraryError, match="tag"): lib.add(models["drums"], "x", tags=["t" * 41])
    assert lib.list() == []


# ---------------------------------------------------------------- the "done when"

class FakeDashboard:
    "Stands in for the generation dashboard: anything with `load_model(model)`."
    def __init__(self): self.model = None
    def load_model(self, model): self.model = model


def test_done_when_five_models_find_drums_load_delete_and_survive_a_lost_index(five, models):
    five.index_path.unlink()                                   # deleting the index by hand …
    assert len(five.list()) == 5                               # … and listing again shows all five
    (found,) = five.search("drum")
    assert found.name == "kit-a" and found.health in ("green", "yellow", "red") and found.health_sentence
    generation = FakeDashboard()
    generation.load_model(five.load(found.name))
    assert generation.model.identity == found.weights_hash
    five.delete("warm")
    five.index_path.unlink()
    assert names(five.list(sort="name")) == ["bells", "bells with prior", "cold", "kit-a"]
    assert five.get("kit-a").tags == ["909"] and five.get("cold").description == "glassy pads"
