"""The names README.md and docs/CONTRACTS.md promise are importable where they say."""

import pathlib
import re

import ipuexplore
import ipuexplore.engine as engine

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _readme_python_api() -> set[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("Python (`ipuexplore.engine`, re-exported from `ipuexplore`):")
    block = text[start:].split("```python", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^(\w+)[(\s]", block, re.M)) | set(re.findall(r"^\w+\(.*?\), (\w+)\(", block, re.M))


def test_readme_engine_names_come_from_ipuexplore_and_the_engine():
    names = _readme_python_api()
    assert {"conv2d", "Conv2d", "Pool", "reference_conv2d", "reference_conv2d_backward", "get_library_dir"} <= names
    for name in names:
        assert getattr(engine, name) is getattr(ipuexplore, name), name
        assert name in dir(ipuexplore), name


def test_engine_all_is_importable_and_dir_is_clean():
    for name in engine.__all__:
        assert hasattr(engine, name), name
    assert "annotations" not in dir(ipuexplore)
    assert "annotations" not in engine.__all__


def _engine_section() -> str:
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    start = text.index("## Engine")
    return text[start:text.index("\n## ", start + 1)]


def _params(sig) -> list[str]:
    """Parameter names as the docs write them: '*' before keyword-only ones, '*name' for *args."""
    out, star = [], False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.VAR_POSITIONAL:
            out.append("*" + p.name)
            star = True
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        out.append(p.name)
    return out


def _documented(params: str) -> list[str]:
    return [item.split("=")[0].strip() for item in params.split(",") if item.strip()]


def test_contracts_engine_signatures_match_the_code():
    import inspect

    checked = 0
    for bullet in re.split(r"\n- ", _engine_section()):
        if bullet.startswith("Errors"):  # class hierarchy, not signatures
            continue
        owner = None
        for span in re.findall(r"`([^`]+)`", bullet):
            m = re.match(r"^(\.?[\w.]+)\((.*?)\)(\s*->.*)?$", span)
            if not m or m.group(1).startswith("ipx_"):
                continue
            name, params = m.group(1), m.group(2)
            if name.startswith("."):
                target = getattr(owner, name[1:])
            else:
                parts = name.split(".")
                target = engine
                for part in parts[1:] if parts[0] == "engine" else parts:
                    target = getattr(target, part)
                    owner = owner or target
            sig = inspect.signature(target.__init__ if inspect.isclass(target) else target)
            assert _documented(params) == _params(sig), f"docs/CONTRACTS.md: {span}"
            checked += 1
    assert checked >= 20
