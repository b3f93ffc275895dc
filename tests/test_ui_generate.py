"""The generation dashboard as a notebook shows it (its behaviour is tested with the generator in test_generate.py)."""
from distill.ui.generate import GenerationDashboard


def test_the_dashboard_shows_itself_as_the_last_expression_of_a_cell():
    dash = GenerationDashboard()
    assert "application/vnd.jupyter.widget-view+json" in dash._repr_mimebundle_()
    assert "distill-dashboard" in dash.widget._dom_classes and dash.generate_button.disabled and dash.player.layout.display == "none"


def test_save_never_writes_over_a_file_it_numbers_the_new_one(tmp_path):
    "Save twice (the old dashboard said 'Saved generated.wav' twice, the second time over the first): two files."
    import soundfile as sf
    import torch
    from pathlib import Path
    from distill.generate import Generated
    dash = GenerationDashboard()
    assert dash.save_path.value == str(Path("distill_outputs") / "generated.wav")   # beside the notebook, not among the sounds
    tone = 0.5 * torch.sin(torch.arange(8000) / 8000 * 2 * torch.pi * 440)
    dash.result = Generated(audio=tone, sample_rate=8000, codes=torch.zeros(3, 4, dtype=torch.long), mel=torch.zeros(8, 4))
    dash.save_path.value = str(tmp_path / "take.wav")
    dash.save_button.click()
    assert f"Saved {tmp_path / 'take.wav'}." in dash.save_status.value
    first = (tmp_path / "take.wav").read_bytes()
    dash.result = Generated(audio=-tone, sample_rate=8000, codes=torch.zeros(3, 4, dtype=torch.long), mel=torch.zeros(8, 4))
    dash.save_button.click()
    assert f"Saved {tmp_path / 'take-2.wav'} ({tmp_path / 'take.wav'} was already there and is kept)." in dash.save_status.value
    assert (tmp_path / "take.wav").read_bytes() == first
    assert (tmp_path / "take-2.wav").read_bytes() != first and sf.info(str(tmp_path / "take-2.wav")).frames == 8000
    dash.save_button.click()
    assert (tmp_path / "take-3.wav").exists() and "take-3.wav" in dash.save_status.value
