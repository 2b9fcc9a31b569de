"""How `methodflow`'s help screens read: click's plain layout, each value named as a person types it.

With `rich_markup_mode=None` typer prints flags bare and an option's value by its metavar
(`--inputs FILE`), but it still prints an argument's Python type (`BUNDLE <list[Path]>`) and braces it
in the usage line (`{BUNDLE}...`): commands taking arguments use `PlainCommand`, which names them by
their metavar, as click does (`BUNDLE...`). The plain layout rather than rich
panels also keeps `rich` out of `methodflow --help`, a tenth of a second of import.
"""

from __future__ import annotations

from typer._click import Context, HelpFormatter
from typer.core import TyperArgument, TyperCommand


class PlainCommand(TyperCommand):
    """A command whose help names its arguments by their metavar, not their Python type."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(argument_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                row = None if param.hidden else (argument_name(param), param.help or "")
            else:
                row = param.get_help_record(ctx)
            if row is not None:
                (arguments if isinstance(param, TyperArgument) else options).append(row)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def argument_name(argument: TyperArgument) -> str:
    """`BUNDLE...` for an argument taking several values, `BUNDLE` for one."""
    name = argument.metavar or (argument.name or "").upper()
    return f"{name}..." if argument.nargs != 1 else name
