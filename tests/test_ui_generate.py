"""The generation dashboard as a notebook shows it (its behaviour is tested with the generator in test_generate.py)."""
from distill.ui.generate import GenerationDashboard


def test_the_dashboard_shows_itself_as_the_last_expression_of_a_cell():
    dash = GenerationDashboard()
    assert "application/vnd.jupyter.widget-view+json" in dash._repr_mimebundle_()
    assert "distill-dashboard" in dash.widget._dom_classes and dash.generate_button.disabled and dash.player.layout.display == "none"
