"""engine/_fastsel.pyi, the stub type checkers read for the core, says what
both cores are: the same public names, the same parameters, and (for the
pure twin, whose annotations can be read) the same annotations, word for
word.  mypy checks the engine against the stub, so the stub must not drift."""

import ast
import inspect
from pathlib import Path

import pytest

from engine import _fastsel_py, kernels

STUB = Path(_fastsel_py.__file__).with_name("_fastsel.pyi")
# What the twin imports or keeps for itself, not part of the core's interface.
TWIN_ONLY = {
    "annotations",
    "array",
    "Any",
    "Callable",
    "Iterator",
    "Optional",
    "RecordError",
    "Sequence",
    "TypeVar",
    "Union",
    "WriteLog",
    "STRICT_DOTTED_QUAD",
}
# Names only type checkers see: the type aliases and the type variable.
TYPING_ONLY = {"Columns", "Strings", "T"}


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _public(node: ast.AST) -> bool:
    name = getattr(node, "name", "")
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _stub_names() -> set[str]:
    names = set()
    for node in _stub().body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _stub_functions() -> list[tuple[str, ast.FunctionDef]]:
    """``(qualified name, definition)`` of every function and method in the stub."""
    found = []
    for node in _stub().body:
        if isinstance(node, ast.FunctionDef):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found.extend((f"{node.name}.{item.name}", item) for item in node.body if isinstance(item, ast.FunctionDef))
    return found


def _resolve(module: object, qualified: str) -> object:
    target = module
    for part in qualified.split("."):
        target = getattr(target, part)
    return target


def _implementations() -> list:
    modules = [_fastsel_py]
    if kernels.IMPLEMENTATION == "compiled":
        modules.append(kernels.for_implementation("compiled"))
    return modules


@pytest.mark.parametrize("module", _implementations(), ids=lambda m: m.__name__)
def test_the_stub_names_exactly_the_public_names(module):
    public = {name for name in vars(module) if not name.startswith("_")} - TWIN_ONLY - TYPING_ONLY
    assert public == _stub_names() - TYPING_ONLY


@pytest.mark.parametrize("module", _implementations(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("qualified,definition", _stub_functions(), ids=[q for q, _ in _stub_functions()])
def test_parameters_match_the_stub(module, qualified, definition):
    if qualified.rsplit(".", 1)[-1].startswith("__"):
        # Cython gives its slot wrappers (__len__, __getitem__) generic parameter names.
        pytest.skip("slot methods: Cython names their parameters itself")
    parameters = list(inspect.signature(_resolve(module, qualified)).parameters)
    assert parameters == [a.arg for a in definition.args.args]


@pytest.mark.parametrize("qualified,definition", _stub_functions(), ids=[q for q, _ in _stub_functions()])
def test_the_twin_is_annotated_as_the_stub(qualified, definition):
    """The twin's annotations, as written, are the stub's; ``self`` carries none in either."""
    function = _resolve(_fastsel_py, qualified)
    written = {
        name: ast.unparse(ast.parse(text, mode="eval").body) for name, text in inspect.get_annotations(function).items()
    }
    stubbed = {a.arg: ast.unparse(a.annotation) for a in definition.args.args if a.annotation is not None}
    if definition.returns is not None:
        stubbed["return"] = ast.unparse(definition.returns)
    assert written == stubbed


def test_the_twin_defines_the_stub_type_aliases_alike():
    aliases = {
        node.targets[0].id: ast.unparse(node.value)
        for node in _stub().body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    source = ast.parse(Path(_fastsel_py.__file__).read_text(encoding="utf-8"))
    twin = {
        node.targets[0].id: ast.unparse(node.value)
        for node in source.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in aliases
    }
    assert aliases == twin
