"""The package's layering rules, checked by walking every module's imports (no module is run)."""

from __future__ import annotations

import ast
from pathlib import Path

import bpjax
from bpjax.core.defines import CATEGORIES

PACKAGE = Path(bpjax.__file__).resolve().parent
CARD_INFRASTRUCTURE = {"base", "registry", "catalogue"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.AST, module: str) -> list[tuple[str, str | None]]:
    """(module, name) of every import in ``tree``, at any depth (function-level imports count),
    except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            out += [pair for child in node.orelse for pair in imported(child, module)]
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out += [(node.module or module, alias.name) for alias in node.names]
        out += imported(node, module)
    return out


def category_modules(found) -> set[str]:
    return {
        name
        for name in found
        if name.startswith("bpjax.cards.") and name.rsplit(".", 1)[1] not in CARD_INFRASTRUCTURE
    }


def test_every_category_has_its_own_card_module():
    assert {name.rsplit(".", 1)[1] for name in category_modules(modules())} == set(CATEGORIES)


def test_no_module_imports_a_category_module_but_the_cards_package_listing_them():
    found = modules()
    categories = category_modules(found)
    offences = []
    for module, tree in found.items():
        if module == "bpjax.cards":
            continue
        for source, name in imported(tree, module):
            target = f"{source}.{name}" if name else source
            if source in categories or target in categories:
                offences.append(f"{module} imports {target}")
    assert not offences, "\n".join(offences)


def test_no_private_name_is_imported_across_modules():
    offences = [
        f"{module} imports {name} from {source}"
        for module, tree in modules().items()
        for source, name in imported(tree, module)
        if name and name.startswith("_") and source.startswith("bpjax") and name != "__version__"
    ]
    assert not offences, "\n".join(offences)


def test_the_lower_layers_never_import_the_upper_ones():
    """core <- ingest, features <- cards <- tick <- app: the engine never reaches the app, the
    store, the learner or the feeds; features never reach the cards (but for annotations)."""
    forbidden = {
        "bpjax.core": ("bpjax.ingest", "bpjax.features", "bpjax.cards", "bpjax.tick", "bpjax.app",
                       "bpjax.feeds", "bpjax.sim", "bpjax.store", "bpjax.learn", "bpjax.zones"),
        "bpjax.features": ("bpjax.cards", "bpjax.tick", "bpjax.app", "bpjax.feeds", "bpjax.store",
                           "bpjax.learn", "bpjax.sim"),
        "bpjax.tick": ("bpjax.app", "bpjax.feeds", "bpjax.sim", "bpjax.store", "bpjax.learn"),
        "bpjax.ingest": ("bpjax.tick", "bpjax.app", "bpjax.cards", "bpjax.store", "bpjax.learn"),
        "bpjax.feeds": ("bpjax.tick", "bpjax.app", "bpjax.cards", "bpjax.sim", "bpjax.learn"),
    }  # fmt: skip
    offences = []
    for module, tree in modules().items():
        for layer, above in forbidden.items():
            if module == layer or module.startswith(layer + "."):
                for source, name in imported(tree, module):
                    if source.startswith(above) or (name and f"{source}.{name}".startswith(above)):
                        offences.append(f"{module} imports {source}{'.' + name if name else ''}")
    assert not offences, "\n".join(offences)


def test_the_rules_catch_an_offending_import():
    """The walk sees a cross-category import wherever it is written (here, inside a function)."""
    tree = ast.parse("def f():\n    from bpjax.cards.price_momentum import RETURNS\n")
    categories = category_modules(modules())
    assert any(source in categories for source, _ in imported(tree, "bpjax.cards.trend"))


def test_the_public_api_names_exist():
    for name in bpjax.__all__:
        assert getattr(bpjax, name) is not None, name
