"""The settings file: [keys] names only the console's actions, and says which ones when not."""

from __future__ import annotations

import pytest
from textual.binding import Binding

from returns_tui.settings import KEY_ACTIONS, SettingsError, load_settings


def test_the_actions_keys_may_name_are_the_consoles_bindings():
    """settings.KEY_ACTIONS is the list a person may remap: exactly the ids of the console's
    bindings (a new binding with an id must be added there, or its key cannot be changed)."""
    from returns_tui.app import ReturnsApp
    from returns_tui.screens.main import ConsoleScreen

    ids = [
        b.id
        for b in [*ConsoleScreen.BINDINGS, *ReturnsApp.BINDINGS]
        if isinstance(b, Binding) and b.id is not None
    ]
    assert sorted(ids) == sorted(KEY_ACTIONS)


def test_known_actions_are_taken(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keys]\naccept = "y"\ntab_appeals = "7"\n', encoding="utf-8")
    assert load_settings(path).keys == {"accept": "y", "tab_appeals": "7"}


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ('acept = "y"', "'acept'"),
        ('accept = "y"\n"tab closed" = "5"\nzz = "z"', "'tab closed', 'zz'"),
    ],
)
def test_an_unknown_action_is_refused_in_one_sentence_naming_it_and_the_known_ones(
    tmp_path, keys, named
):
    path = tmp_path / "config.toml"
    path.write_text(f"[keys]\n{keys}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert err.value.message == (
        f"{path}: [keys] has no action {named}; the actions are {', '.join(KEY_ACTIONS)}."
    )
    assert "\n" not in err.value.message
