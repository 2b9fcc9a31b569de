"""The worker's settings and model deck as `methodflow`'s in-process commands read them (`validate`,
`run`, `lint`, `inputs` without a server): an unusable setting is one `error:` line and exit 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shared.language.model_deck import ModelDeck
    from worker.settings import WorkerSettings

EXIT_UNUSABLE_SETTING = 2


def worker_settings() -> WorkerSettings:
    from worker.settings import WorkerSettingsError, get_worker_settings

    try:
        return get_worker_settings()
    except WorkerSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE_SETTING) from exc


def model_deck(settings: WorkerSettings) -> ModelDeck:
    """The worker's deck (`MODEL_DECK` over the built-in one); an unusable deck exits 2, named."""
    from worker.settings import WorkerSettingsError

    try:
        return settings.load_model_deck()
    except WorkerSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNUSABLE_SETTING) from exc
