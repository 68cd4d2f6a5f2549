"""Copy the docstrings written in Rust into ``python/ragplay/_ragplay.pyi``.

Docstrings are written once, as ``///`` comments on the Rust bindings; this script reads them
from the compiled module and writes them into the stub file, whose signatures are maintained
by hand. ``python tests/stubgen.py`` rewrites the stub (``make stubs``); ``--check`` exits 1
when the committed stub is out of date (the test suite runs it).
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

STUB = Path(__file__).resolve().parents[1] / "python" / "ragplay" / "_ragplay.pyi"


def _set_doc(node: ast.FunctionDef | ast.ClassDef, doc: str | None) -> None:
    body = node.body
    has_doc = (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    if has_doc:
        body.pop(0)
    if doc:
        body.insert(0, ast.Expr(ast.Constant(doc)))
    if not body:
        body.append(ast.Expr(ast.Constant(...)))
    elif doc and len(body) == 1:
        pass  # the docstring alone is a valid body
    if doc and len(body) > 1 and isinstance(body[1], ast.Expr):
        if isinstance(body[1].value, ast.Constant) and body[1].value.value is Ellipsis:
            body.pop(1)


def generate() -> str:
    import ragplay._ragplay as module

    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            obj = getattr(module, node.name)
            _set_doc(node, inspect.getdoc(obj))
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith("__"):
                        _set_doc(item, inspect.getdoc(getattr(obj, item.name)))
    text = ast.unparse(tree) + "\n"
    for command in (["check", "--select", "I", "--fix-only", "--exit-zero"], ["format"]):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(STUB), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return text


def main() -> int:
    text = generate()
    if "--check" in sys.argv:
        if text != STUB.read_text():
            print(f"{STUB} is out of date: run `make stubs`", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
