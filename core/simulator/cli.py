"""``switchyard simulator``: serve the provider simulator on 127.0.0.1 for demos and manual
testing (add to the main group with ``main.add_command(simulator_command)``)."""

from __future__ import annotations

from pathlib import Path

import click

from core.simulator.engine import DEFAULT_SAMPLES
from core.simulator.urls import base_urls


@click.command("simulator")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1 (the simulator never binds other interfaces).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of every random choice (answers, latency, faults).")
@click.option("--latency-scale", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Multiply the modelled latencies (0 answers at once).")
@click.option("--fixed-latency-ms", default=None, type=click.FloatRange(0),
              help="Every call takes exactly this long instead (benchmarks).")
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="Background error, 429, timeout and malformed rates from the profiles.")
@click.option("--samples", default=str(DEFAULT_SAMPLES), show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder with labels.yaml and photos (ground truth), if it exists.")
def simulator_command(port: int, seed: int, latency_scale: float,
                      fixed_latency_ms: float | None, faults: bool, samples: Path) -> None:
    """Serve simulated OpenAI, Anthropic, Gemini, Mistral, Clarifai, Ollama and Cloud Vision
    APIs on 127.0.0.1, speaking their real wire protocols (any key works except 'bad-key')."""
    from core.simulator.server import HOST, serve

    root = f"http://{HOST}:{port}"
    click.echo(f"Provider simulator on {root} (admin: {root}/_admin/faults)")
    for provider, url in base_urls(root).items():
        click.echo(f"  {provider:<18} {url}")
    serve(port, seed=seed, latency_scale=latency_scale, fixed_latency_ms=fixed_latency_ms,
          baseline_faults=faults, samples_dir=samples)
