"""`python manage.py startgame NAME [DIRECTORY]`: a new, working game, like `startapp`.

Writes the package `DIRECTORY/NAME/` (default: the current directory):
`__init__.py` (the `GAME` definition), `config.py`, `inputs.py`, `match.py`
(rules, snapshot schema and codec) and `test_NAME.py` (the `engine.testing`
kit and two rules tests), plus the browser module
`client/static/client/js/games/NAME.js` (`--client-dir` to put it elsewhere):
a plug-in of the client SDK (its default export passes `checkPlugin`,
docs/client.md). The templates are `gameserver/templates/startgame/*-tpl`.

The generated game plays as is: its tests pass, and adding its dotted path
(`NAME`, or `pkg.NAME` if DIRECTORY is the package `pkg`) to `GAMES` offers
it; the play page then lists its id as offered, and `games/index.js` loads
`games/NAME.js` for it (docs/games.md, "From startgame to a room in the browser").
"""

from __future__ import annotations

import importlib.util
import keyword
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from engine.game import GAME_ID_RE

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "startgame"
PACKAGE_FILES = {
    "__init__.py-tpl": "__init__.py",
    "config.py-tpl": "config.py",
    "inputs.py-tpl": "inputs.py",
    "match.py-tpl": "match.py",
    "test___NAME__.py-tpl": "test___NAME__.py",
}


def render(template: str, name: str) -> str:
    camel = "".join(part.capitalize() for part in name.split("_") if part)
    title = " ".join(part.capitalize() for part in name.split("_") if part)
    return (template.replace("__CAMEL__", camel).replace("__TITLE__", title)
            .replace("__NAME__", name))


def check_name(name: str) -> None:
    """A game name is a lowercase identifier (it is the module and the game id), not a
    keyword, and not the name of a module Python can already import."""
    if not GAME_ID_RE.match(name) or not name.isidentifier():
        raise CommandError(
            f"{name!r} is not a valid game name: use a lowercase Python identifier of at "
            f"most 32 characters, starting with a letter (it is the module name and the "
            f"game id), e.g. 'dots' or 'tank_duel'"
        )
    if keyword.iskeyword(name):
        raise CommandError(f"{name!r} is a Python keyword; pick another game name")
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        raise CommandError(
            f"{name!r} clashes with an existing Python module ({found.origin}); "
            f"pick another game name"
        )


class Command(BaseCommand):
    help = "Create a new game (engine module, input model, tests, client module) from a template."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the game's module name and id (e.g. dots)")
        parser.add_argument("directory", nargs="?", default=".",
                            help="where to create the package NAME/ (default: here)")
        parser.add_argument("--client-dir", default=None,
                            help="where to write NAME.js (default: "
                                 "client/static/client/js/games/ of this project)")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        check_name(name)
        target = Path(options["directory"]).resolve()
        if not target.is_dir():
            raise CommandError(f"directory {str(target)!r} does not exist")
        package = target / name
        if package.exists():
            raise CommandError(f"{str(package)!r} already exists")
        client_dir = Path(options["client_dir"] or Path(settings.BASE_DIR) / "client" /
                          "static" / "client" / "js" / "games").resolve()
        client_file = client_dir / f"{name}.js"
        if client_file.exists():
            raise CommandError(f"{str(client_file)!r} already exists")
        package.mkdir()
        for template, target_name in PACKAGE_FILES.items():
            text = render((TEMPLATES / template).read_text(), name)
            (package / render(target_name, name)).write_text(text)
        client_dir.mkdir(parents=True, exist_ok=True)
        client_file.write_text(render((TEMPLATES / "client.js-tpl").read_text(), name))
        self.stdout.write(
            f"Created the game {name!r} in {package} and its client module {client_file}.\n"
            f"Test it:     python -m pytest {package}\n"
            f"Offer it:    GAMES=engine.arena,engine.paddle,{name} (the dotted path of the "
            f"package, importable from where the server runs)\n"
            f"Play it:     POST /api/rooms {{\"game\": \"{name}\"}}, then /play/<room>/ (the "
            f"page loads games/{name}.js), or /ws/game/<room>/?game={name}"
        )
