"""The CLI contract: global options, help, version, exit codes and usage errors."""
from conftest import run


def test_version():
    r = run("--version")
    assert r.code == 0
    assert r.out.startswith("gpumigrate ")


def test_no_command_is_usage_error():
    r = run()
    assert r.code == 2
    assert "usage: gpumigrate" in r.err


def test_global_help_lists_commands():
    r = run("--help")
    assert r.code == 0
    for name in ("inventory", "topo"):
        assert f"  {name} " in r.out


def test_unknown_command_one_line_and_hint():
    r = run("inventroy")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[0] == "gpumigrate: error: unknown command 'inventroy'"
    assert "did you mean 'gpumigrate inventory'" in lines[1]
    assert r.out == ""


def test_unknown_option_names_it_and_the_command():
    r = run("inventory", "--frobnicate")
    assert r.code == 2
    assert "unknown option '--frobnicate'" in r.err
    assert "gpumigrate inventory --help" in r.err


def test_missing_option_value():
    r = run("inventory", "--sysroot")
    assert r.code == 2
    assert "option '--sysroot' needs a value" in r.err


def test_bad_color_value():
    r = run("--color=sometimes", "inventory")
    assert r.code == 2
    assert "invalid --color value 'sometimes'" in r.err


def test_command_help():
    r = run("inventory", "--help")
    assert r.code == 0
    assert r.out.startswith("usage: gpumigrate inventory")
    assert "--sysroot DIR" in r.out
    assert "--json" in r.out


def test_help_subcommand_form():
    assert run("help", "topo").out == run("topo", "--help").out


def test_completion_lists_commands_and_options():
    r = run("completion", "bash")
    assert r.code == 0
    assert "complete -F _gpumigrate gpumigrate" in r.out
    assert "--sysroot" in r.out and "--topology-xml" in r.out
    assert run("completion", "zsh").code == 2
