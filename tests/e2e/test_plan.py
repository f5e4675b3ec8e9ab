"""gpumigrate plan init / check: the template parses, is written atomically and not over an
existing file, is pre-filled from an inventory, and bad plans name file:line:col."""
import os

from conftest import run, fixture

SRC = os.environ.get("GM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_init_writes_a_template_that_checks(tmp_path):
    out = tmp_path / "plan.yaml"
    r = run("plan", "init", "-o", str(out))
    assert r.code == 0, r.err
    text = out.read_text()
    assert text.startswith("# gpumigrate migration plan")
    assert "schema: gpumigrate.plan/v1" in text
    assert [p.name for p in tmp_path.iterdir()] == ["plan.yaml"]  # no temporary left
    r = run("plan", "check", "-p", str(out))
    # parses; tco is not ready until the server price is filled in
    assert r.code == 1, r.err
    assert f"plan {out}: valid gpumigrate.plan/v1" in r.out
    assert "tco         not ready:" in r.out and "capex_usd" in r.out
    # refuses to overwrite
    out.write_text("mine\n")
    r = run("plan", "init", "-o", str(out))
    assert r.code == 2 and "exists: pass --force" in r.err
    assert out.read_text() == "mine\n"
    r = run("plan", "init", "-o", str(out), "--force")
    assert r.code == 0 and out.read_text() == text


def test_init_to_stdout():
    r = run("plan", "init", "-o", "-")
    assert r.code == 0
    assert "schema: gpumigrate.plan/v1" in r.out


def test_init_from_inventory(tmp_path):
    out = tmp_path / "p.yaml"
    inv = fixture("plans", "l40s-server.inventory.json")
    r = run("plan", "init", "-o", str(out), "--from-inventory", inv)
    assert r.code == 0, r.err
    text = out.read_text()
    assert "- gpu: l40s" in text and "gpus_per_server: 4" in text
    assert os.path.realpath(inv) in text
    # with a price it is ready for tco
    out.write_text(text.replace("capex_usd: null", "capex_usd: 60000"))
    r = run("plan", "check", "-p", str(out))
    assert r.code == 0, r.out + r.err
    assert "target      1 x 4 x l40s" in r.out
    assert "tco         ready" in r.out


def test_check_examples():
    for name, target in (("gke-a100-to-l40s.yaml", "4 x 4 x l40s"),
                         ("t4-fleet-to-l4.yaml", "3 x 4 x l4")):
        r = run("plan", "check", "-p", os.path.join(SRC, "examples", name))
        assert r.code == 0, r.err
        assert f"target      {target}" in r.out
        assert "tco         ready" in r.out
    r = run("plan", "check", "-p", os.path.join(SRC, "examples", "gke-a100-to-l40s.yaml"),
            "--json")
    d = r.json()
    assert d["tco_ready"] is True and d["datasets"] == 2
    assert d["dataset_bytes"] == 12 * 2**40 + 1.5 * 2**40


def test_check_bad_plan_names_position():
    path = fixture("plans", "bad-instance-key.yaml")
    r = run("plan", "check", "-p", path)
    assert r.code == 2
    assert r.err.splitlines()[0] == \
        f"gpumigrate: error: {path}:4:7: unknown key 'typ' (did you mean 'type'?)"


def test_usage():
    assert run("plan").code == 2
    r = run("plan", "frobnicate")
    assert r.code == 2 and "unknown plan subcommand 'frobnicate'" in r.err
    r = run("plan", "check")
    assert r.code == 2 and "-p FILE" in r.err
    r = run("plan", "init", "-p", "x.yaml")
    assert r.code == 2
