"""How a setting is declared once, with its default, help, help group and check, and how a command's flags
are made from the declarations (add_arguments) and turned back into checked settings (from_args).

A settings type is a frozen dataclass of Checked whose fields are made by setting(); a value out of range
raises SettingsError, which `catdog` prints as one line before any work. No TensorFlow here: every
command's --help and argument errors answer at once."""

import argparse
import dataclasses
import math
import shlex
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from components import names
from components.errors import CatdogError


class SettingsError(CatdogError):
    """A setting out of its range, or settings that cannot go together."""


Check = Callable[[Any], str | None]  # the problem with a value, or None


def at_least(low) -> Check:
    return lambda value: None if value >= low else f"must be {low} or more"


def above(low) -> Check:
    return lambda value: None if value > low else f"must be above {low}"


def between(low, high, why: str = "") -> Check:
    """low <= value <= high; why says where the bounds come from (what the value's consumer takes)."""
    because = f" ({why})" if why else ""
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}{because}"


def above_up_to(low, high, why: str = "") -> Check:
    """low < value <= high: a positive quantity with a ceiling."""
    because = f" ({why})" if why else ""
    return lambda value: None if low < value <= high else f"must be above {low} and at most {high}{because}"


def plain_name(value: str) -> str | None:
    """A folder name under the serving directory: nothing that could climb out of it."""
    try:
        names.plain_model_name(value)
    except CatdogError as e:
        return str(e)
    return None


def setting(
    default,
    help: str,
    *,
    flag: str = "",
    choices: tuple = (),
    check: Check | None = None,
    metavar=None,
    group: str = "",
    positional: bool = False,
    required: bool = False,
    shown_default: str = "",
    aliases: tuple[str, ...] = (),
):
    """A dataclass field that knows its flag (default: --the-field-name), help, allowed values, check and
    help group (default: its settings type's GROUP). A positional one is an argument without a flag.
    aliases are other spellings of the flag (e.g. another tool's, so one command line serves both); a
    boolean's alias also takes a value, as --flag=true or --flag=false."""
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "flag": flag,
            "choices": choices,
            "check": check,
            "metavar": metavar,
            "group": group,
            "positional": positional,
            "required": required,
            "shown_default": shown_default,
            "aliases": aliases,
        },
    )


def _boolean(text: str) -> bool:
    """true/false, 1/0, as tensorflow::Flags and absl read a boolean flag's value."""
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def same_as(settings_type, name: str, **changes):
    """A new field declared like settings_type's field `name` (a setting shared by two commands)."""
    field = next(f for f in dataclasses.fields(settings_type) if f.name == name)
    return dataclasses.field(default=field.default, metadata={**field.metadata, **changes})


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def value_type(field: dataclasses.Field):
    """The type of a field's values: Optional[int] is int (None: decided elsewhere, e.g. the preset's recipe)."""
    if typing.get_origin(field.type) in (Union, types.UnionType):  # Optional[int] and int | None
        return next(t for t in typing.get_args(field.type) if t is not type(None))
    return field.type


def _is_list(field: dataclasses.Field) -> bool:
    return field.type == tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Checked:
    """Checks every field's value when made: its choices, then its check; floats must be finite."""

    GROUP = "options"  # the help group of the fields a type declares, unless a field names its own

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:  # an optional setting left to what decides it (the preset's recipe)
                continue
            choices, check = field.metadata.get("choices"), field.metadata.get("check")
            problem = None
            if isinstance(value, float) and not math.isfinite(value):
                problem = "must be a finite number"
            elif choices and value not in choices:
                problem = f"choose from {', '.join(choices)}"
            elif check:
                problem = check(value)
            if problem:
                name = field.metadata["metavar"] or field.name if field.metadata.get("positional") else flag_of(field)
                shown = "" if isinstance(value, tuple) else f" {value}"  # a list's check names the bad item
                raise SettingsError(f"{name}{shown}: {problem}")


def _group_of(settings_type, field: dataclasses.Field) -> str:
    if field.metadata.get("group"):
        return field.metadata["group"]
    for cls in settings_type.__mro__:  # the type that declared the field
        if field.name in cls.__dict__.get("__annotations__", {}):
            return getattr(cls, "GROUP", Checked.GROUP)
    return Checked.GROUP


def add_arguments(parser: argparse.ArgumentParser, settings_type, skip: tuple[str, ...] = ()) -> None:
    """One flag (or positional argument) a field of settings_type, in the field's help group, with its default
    shown."""
    groups = {}
    for field in dataclasses.fields(settings_type):
        if field.name in skip:
            continue
        group_name = _group_of(settings_type, field)
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        group = groups[group_name]
        help_text = field.metadata["help"]
        if field.metadata.get("positional"):
            group.add_argument(
                field.name,
                nargs="+" if _is_list(field) else None,
                help=help_text,
                metavar=field.metadata["metavar"] or field.name.upper(),
            )
            continue
        kwargs = {"dest": field.name, "help": help_text}
        aliases = field.metadata.get("aliases", ())
        if field.type is bool:
            # A flag turns the default around: --deterministic, --no-cache.
            kwargs.update(action="store_false" if field.default else "store_true")
            if aliases:
                kwargs["help"] += f" (also {', '.join(a + '[=true|false]' for a in aliases)})"
            group.add_argument(flag_of(field), **kwargs)
            for alias in aliases:
                group.add_argument(
                    alias,
                    dest=field.name,
                    nargs="?",
                    const=not field.default,
                    type=_boolean,
                    default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS,
                )
            continue
        elif _is_list(field):
            kwargs.update(action="append", default=[], metavar=field.metadata["metavar"])
        else:
            kwargs.update(type=value_type(field), choices=field.metadata["choices"] or None)
            if field.metadata.get("required"):
                kwargs["required"] = True
            else:
                kwargs["default"] = field.default
            if not field.metadata["choices"]:
                kwargs["metavar"] = field.metadata["metavar"] or flag_of(field).lstrip("-").replace("-", "_").upper()
            shown = field.metadata.get("shown_default") or field.default
            if shown not in ("", None) or field.metadata["choices"]:
                kwargs["help"] += f" (default: {shown})"
        group.add_argument(flag_of(field), *field.metadata.get("aliases", ()), **kwargs)


def add_command(subparsers, name: str, help: str, settings_type, run: Callable[[argparse.Namespace], int]):
    """A subcommand whose flags are settings_type's; run(args) does its work. Returns its parser."""
    parser = subparsers.add_parser(name, help=help)
    add_arguments(parser, settings_type)
    parser.set_defaults(func=run)
    return parser


def split_arguments(values) -> tuple[str, ...]:
    """Each value split the way a shell would: one flag can carry several arguments in one string."""
    return tuple(arg for value in values for arg in shlex.split(value))


def attach_option_values(argv: list[str], settings_types) -> list[str]:
    """`--beam-arg --runner=X` as `--beam-arg=--runner=X`: argparse takes a value that starts with '-'
    for an option of its own, and users write it the first way."""
    flags = {
        flag_of(f)
        for t in settings_types
        for f in dataclasses.fields(t)
        if _is_list(f) and not f.metadata.get("positional")
    }
    out = []
    for arg in argv:
        if out and out[-1] in flags:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def from_args(settings_type, args: argparse.Namespace, **fixed):
    """The settings the parsed flags (and fixed values) give; raises SettingsError for a bad value."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings_type) if hasattr(args, f.name)}
    values.update(fixed)
    for field in dataclasses.fields(settings_type):
        if _is_list(field) and field.name in values:
            value = values[field.name]
            values[field.name] = tuple(value) if field.metadata.get("positional") else split_arguments(value)
    return settings_type(**values)
