"""Front ends take their defaults from the core: every CLI option and dashboard control for a core setting starts at
the default its dataclass (or `run_demo`) declares, and a command passes on only what the user set."""
import argparse, inspect, types
from dataclasses import fields

import pytest

from distill.cli import CORE_CHOICES, CORE_DEFAULTS, CORE_PRIOR_SCHEDULES, CORE_SAMPLING, CORE_TRAIN_LENGTH, build_parser
from distill.generate import DEFAULT_SAMPLING, KEEPS, MODES, SamplingParams, run_demo, save_generated
from distill.model import PRECISIONS, VQVAEConfig
from distill.prior import PRIOR_SCHEDULES, PriorTrainParams
from distill.train import TrainParams

SOURCES = dict(TrainParams=TrainParams, VQVAEConfig=VQVAEConfig, PriorTrainParams=PriorTrainParams,
               SamplingParams=SamplingParams, run_demo=run_demo)
COMMANDS = {   # the core settings each command has options for, and the least it can be called with
    "train": (["TrainParams", "VQVAEConfig"], ["sounds", "-o", "m.distill"]),
    "train-prior": (["PriorTrainParams"], ["m.distill", "sounds"]),
    "generate": (["SamplingParams"], ["m.distill", "-o", "x.wav"]),
    "demo": (["run_demo"], []),
}


def core_defaults(source) -> dict:
    "The defaults the core itself declares: a dataclass's fields, or a function's keyword arguments."
    if inspect.isclass(source): return {f.name: f.default for f in fields(source)}
    return {name: p.default for name, p in inspect.signature(source).parameters.items()}


def subparser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def parse(command: str, *options):
    return build_parser().parse_args([command, *COMMANDS[command][1], *options])


# ---------------------------------------------------------------- the command line

def test_help_table_is_the_core_defaults():
    "`CORE_DEFAULTS` (a copy for `--help`, which must not import torch) says what the core says."
    assert set(CORE_DEFAULTS) == set(SOURCES)
    for name, shown in CORE_DEFAULTS.items():
        core = core_defaults(SOURCES[name])
        assert shown == {field: core[field] for field in shown}, name


def test_choice_lists_are_the_cores():
    "The parser's copies of the core's vocabularies (kept so that `--help` imports no torch) are the core's own."
    assert CORE_CHOICES == dict(MODES=MODES, KEEPS=KEEPS, PRECISIONS=PRECISIONS)
    assert CORE_SAMPLING == DEFAULT_SAMPLING
    assert CORE_PRIOR_SCHEDULES == PRIOR_SCHEDULES
    from distill.train import DEFAULT_EPOCHS, DEFAULT_MAX_STEPS
    assert CORE_TRAIN_LENGTH == dict(epochs=DEFAULT_EPOCHS, max_steps=DEFAULT_MAX_STEPS)


@pytest.mark.parametrize("command", COMMANDS)
def test_unset_options_stay_unset_and_help_shows_the_core_default(command):
    sources, _ = COMMANDS[command]
    args, options = parse(command), {a.dest: a for a in subparser(command)._actions}
    for source in sources:
        core = core_defaults(SOURCES[source])
        for name in core:
            if name not in options: continue                      # a setting without an option
            assert getattr(args, name) is None, f"{command} --{name}: the core's default must apply"
            follows = dict(SamplingParams=DEFAULT_SAMPLING, PriorTrainParams=PRIOR_SCHEDULES).get(source, {})
            if name in CORE_DEFAULTS[source] and core[name] is None and all(name in v for v in follows.values()) and follows:
                # follows what is made (sampling) or the corpus (the prior's epochs and learning rate)
                shown = {f"{values[name]:g}" for values in follows.values()}
                assert all(v in options[name].help for v in shown), f"{command} --{name}: {options[name].help}"
            elif (source, name) == ("TrainParams", "epochs"):            # follows the collection's length
                from distill.train import DEFAULT_EPOCHS, DEFAULT_MAX_STEPS
                assert f"(default {DEFAULT_EPOCHS}, fewer where they would pass {DEFAULT_MAX_STEPS} steps)" in " ".join(options[name].help.split())
            elif name in CORE_DEFAULTS[source] and core[name] is None:   # a setting that is off unless given (--minutes)
                assert "(default off" in options[name].help, f"{command} --{name}: {options[name].help}"
            elif name in CORE_DEFAULTS[source]:
                assert f"(default {core[name]})" in options[name].help, f"{command} --{name}: {options[name].help}"
            else:
                assert name == "codebook_size"                   # the one option whose default is computed (by file count)


class _Stop(Exception): pass


def test_commands_pass_only_what_was_set(monkeypatch, tmp_path):
    "With no options the commands build the core's default settings; an option changes its field and nothing else."
    import distill.train, distill.prior, distill.generate, distill.modelfile
    calls = {}
    def train_vqvae(dataset, output, params=None, cancel=None, resume=False, progress=None, **overrides):
        calls["train"] = params, overrides; return iter(())
    def train_prior(model, dataset, params=None, cancel=None, resume=False, progress=None):
        calls["train-prior"] = params; return iter(())
    def generate_sounds(model, count, mode, duration, sampling, progress=None, **kwargs):
        calls["generate"] = sampling; raise _Stop
    def demo(folder, cancel=None, progress=None, **kwargs):
        calls["demo"] = kwargs; return iter(())
    monkeypatch.setattr(distill.train, "train_vqvae", train_vqvae)
    monkeypatch.setattr(distill.prior, "train_prior", train_prior)
    monkeypatch.setattr(distill.generate, "generate_sounds", generate_sounds)
    monkeypatch.setattr(distill.generate, "run_demo", demo)
    monkeypatch.setattr(distill.modelfile, "load_model", lambda path: types.SimpleNamespace(dataset={}))

    def run(command, *options):
        args = parse(command, *options)
        if command == "generate":
            with pytest.raises(_Stop): args.func(args)
        else: args.func(args)
        return calls.pop(command)

    assert run("train") == (TrainParams(), dict(codebook_size=None))   # None: sized by the file count
    assert run("train", "--lr", "0.01", "--rvq-levels", "2") == (TrainParams(lr=0.01), dict(codebook_size=None, rvq_levels=2))
    assert run("train-prior") == PriorTrainParams()
    assert run("train-prior", "--epochs", "3") == PriorTrainParams(epochs=3)
    assert run("train", "--minutes", "2") == (TrainParams(minutes=2.0), dict(codebook_size=None))
    assert run("train-prior", "--minutes", "0.5") == PriorTrainParams(minutes=0.5)
    assert run("generate") == SamplingParams()
    assert run("generate", "--top-p", "0.9") == SamplingParams(top_p=0.9)
    assert run("demo", "-o", str(tmp_path / "d")) == {}
    assert run("demo", "-o", str(tmp_path / "d"), "--files", "6") == dict(files=6)


# ---------------------------------------------------------------- the dashboards

def test_training_dashboard_starts_at_the_core_defaults():
    from distill.ui.train import TrainingDashboard
    started = []
    def train_prior(model_path, dataset, params=None, **kwargs):
        started.append(params); yield from ()
    dash = TrainingDashboard("sounds", prior_api=(train_prior, PriorTrainParams))
    config = VQVAEConfig()
    assert dash.epochs.value == 0 and TrainParams.epochs is None and dash.train_params() == TrainParams()   # 0: by the collection
    assert (dash.rvq_levels.value, dash.codebook_dim.value, dash.commitment_weight.value) == \
           (config.rvq_levels, config.codebook_dim, config.commitment_weight)
    assert dash.codebook_size.value == 0 and dash.config_overrides()["codebook_size"] is None   # automatic, as in the CLI
    assert dash.prior.epochs.value == 0 and PriorTrainParams.epochs is None   # 0: by the corpus, as in the CLI
    dash.prior.set_model("m.distill")
    dash.prior.start_button.click(); dash.prior.job.join(10)
    assert started == [PriorTrainParams()]


def test_generation_dashboard_starts_at_the_core_defaults():
    from distill.ui.generate import GenerationDashboard
    dash = GenerationDashboard()
    assert dash.sampling() == SamplingParams().resolved("one-shot")     # the sliders start where the core's one-shots do
    # settings the core leaves to the front ends still agree between them
    generate_options = {a.dest: a.default for a in subparser("generate")._actions}
    assert dash.duration.value == generate_options["duration"]
    assert dash.save_bits.value == generate_options["bits"] == inspect.signature(save_generated).parameters["bits"].default


def test_codes_editor_starts_at_the_core_defaults():
    from distill.ui.codes import CodesEditor
    editor = CodesEditor()
    defaults = SamplingParams().resolved("texture")                       # a region continues what comes before it
    assert (editor.temperature.value, editor.seed.value) == (defaults.temperature, defaults.seed)
