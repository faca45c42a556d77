"""`switchyard providers add|list|test|remove` and `switchyard keys rotate`, as a user runs them.

The key comes from an environment variable (never an argument), is shown only by its last
four characters, survives a master key rotation, and is nowhere on disk in plaintext."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from core.cli import main
from core.config_store import ProviderStore

CANARY = "sk-canary-CLI-PROVIDERS-3d9e71b0aa"



def _run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    assert CANARY not in result.output
    return result


def _no_plaintext(home: Path) -> None:
    for f in home.rglob("*"):
        if f.is_file():
            assert CANARY.encode() not in f.read_bytes(), f


def test_add_list_test_remove_and_rotate(home: Path, sim) -> None:
    listed = _run("providers", "list")
    assert listed.exit_code == 0
    assert listed.output.count("(simulated)") == 6 and "(simulated) (simulated)" not in \
        listed.output

    tested = _run("providers", "test")
    assert tested.exit_code == 0, tested.output
    assert tested.output.count("ok ") == 6

    added = _run("providers", "add", "openai_compatible", "--name", "Gateway",
                 "--base-url", sim.url + "/custom/v1", "--key-env", "GATEWAY_KEY",
                 env={"GATEWAY_KEY": CANARY})
    assert added.exit_code == 0, added.output
    assert "…" + CANARY[-4:] in added.output
    pid = next(r.id for r in ProviderStore().list("demo") if r.name == "Gateway")

    ok = _run("providers", "test", pid)
    assert ok.exit_code == 0 and "ok" in ok.output and "Gateway" in ok.output
    _no_plaintext(home)

    rotated = _run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 6" in rotated.output  # 5 simulated keys (Ollama has none) + 1
    assert ProviderStore().api_key("demo", pid) == CANARY  # still readable after rotation
    _no_plaintext(home)

    gone = _run("providers", "remove", pid, input="y\n")
    assert gone.exit_code == 0 and f"Removed {pid}" in gone.output
    assert pid not in _run("providers", "list").output


def test_a_key_is_never_an_argument_and_a_missing_one_is_explained(home: Path) -> None:
    missing = _run("providers", "add", "openai", "--name", "Prod", "--key-env", "NOT_SET_VAR",
                   env={"NOT_SET_VAR": ""})
    assert missing.exit_code != 0 and "NOT_SET_VAR" in missing.output
    assert "Prod" not in {r.name for r in ProviderStore().list("demo")}
    assert "--key " not in _run("providers", "add", "--help").output


def test_a_failing_provider_makes_the_test_command_fail(home: Path, sim) -> None:
    # the simulator refuses this key with OpenAI's 401 body
    _run("providers", "add", "openai", "--name", "Wrong", "--base-url", sim.url + "/openai/v1",
         "--key-env", "K", env={"K": "bad-key"})
    rec = next(r for r in ProviderStore().list("demo") if r.name == "Wrong")
    failed = _run("providers", "test", rec.id)
    assert failed.exit_code == 1
    assert "FAILED" in failed.output and "Authentication" in failed.output
    assert "bad-key" not in failed.output


def test_pull_shows_progress_and_adds_the_model_to_the_catalog(home: Path, sim) -> None:
    from core.config_store import CatalogStore

    pulled = CliRunner().invoke(main, ["providers", "pull", "sim-ollama", "gemma3:4b"],
                                catch_exceptions=False)
    assert pulled.exit_code == 0, pulled.output
    lines = pulled.output.splitlines()
    assert lines[lines.index("pulling manifest") + 1].endswith("0%")
    assert any(line.endswith("100%") for line in lines) and "success" in lines
    assert lines[-1].startswith("Pulled gemma3:4b into sim-ollama. Discovery succeeded")
    models = {m.model_id for m in CatalogStore().models("demo", provider_id="sim-ollama")}
    assert "gemma3:4b" in models
    audit = [e for e in ProviderStore().audit_entries("demo") if e.action == "provider.pull"]
    assert audit[0].detail == {"model": "gemma3:4b", "ok": True}


def test_pull_failures_exit_non_zero_with_the_reason(home: Path, sim) -> None:
    unknown = CliRunner().invoke(main, ["providers", "pull", "sim-ollama", "nope:1b"])
    assert unknown.exit_code == 1
    assert "'nope:1b' is not in the Ollama library" in unknown.output
    not_ollama = CliRunner().invoke(main, ["providers", "pull", "sim-openai", "gpt-5"])
    assert not_ollama.exit_code == 1 and "only Ollama pulls models" in not_ollama.output
    missing = CliRunner().invoke(main, ["providers", "pull", "no-such-id", "gemma3:4b"])
    assert missing.exit_code == 1 and "No such provider" in missing.output
    bad_name = CliRunner().invoke(main, ["providers", "pull", "sim-ollama", "two words"])
    assert bad_name.exit_code == 1 and "Model must be a model id" in bad_name.output
