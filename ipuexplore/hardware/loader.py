"""Parse and validate a chip spec (TOML) into a `Chip`.

Every problem is reported as one ValueError line naming the file and the field, so that a
user's own ``--hw-file`` fails clearly instead of producing nonsense estimates.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType

from typing import Callable

from .spec import FAMILIES, INT_FIELDS, OPTIONAL, RANGES, SPEC_CLASSES, TAGS, Chip, Figure, SystemSpec

MAX_FILE_BYTES = 256 * 1024  # a spec is a few KiB; anything bigger is not a spec
TOP_LEVEL_KEYS = {"schema", "id", "name", "family", "chip", "notes", "figures", "sources"}
# a system's topology, named in the error when one is missing
TOPOLOGY = "system topology"
SCHEMA_VERSION = 1


def parse_chip(text: str, origin: str = "<string>", resolve: Callable[[str], Chip] | None = None) -> Chip:
    """Validate TOML text; ``origin`` names it in error messages.

    A ``family = "system"`` file names its device in a top-level ``chip``; ``resolve``
    loads that chip (an id or a path) and the system comes back as the device's family
    and spec with ``system`` (its topology) and ``device`` set.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ValueError(f"{origin}: file is larger than {MAX_FILE_BYTES} bytes; not a chip spec")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML{_near_field(text, str(exc))} ({exc})") from None
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        raise ValueError(f"{origin}: not valid TOML (a number is too long: {str(exc).split(';')[0]})") from None
    except RecursionError:  # tomllib recurses per nested array/table: "a = [[[[..." in 256 KiB
        raise ValueError(f"{origin}: not valid TOML (arrays or tables nested too deeply)") from None

    def fail(msg: str) -> ValueError:
        return ValueError(f"{origin}: {msg}")

    unknown = set(doc) - TOP_LEVEL_KEYS
    if unknown:
        raise fail(f"unknown top-level key {sorted(unknown)[0]!r} (expected {sorted(TOP_LEVEL_KEYS)})")
    schema = doc.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise fail(f"field 'schema' must be {SCHEMA_VERSION}, got {schema!r}")
    for key in ("id", "name", "family"):
        if key not in doc:
            raise fail(f"missing field {key!r}")
        if not isinstance(doc[key], str) or not doc[key].strip():
            raise fail(f"field {key!r} must be a non-empty string, got {doc[key]!r}")
    family = doc["family"]
    if family not in FAMILIES:
        raise fail(f"field 'family' must be one of {list(FAMILIES)}, got {family!r}")
    if family == "system":
        if not isinstance(doc.get("chip"), str) or not doc["chip"].strip():
            raise fail("missing field 'chip' (the chip id a system is made of)")
    elif "chip" in doc:
        raise fail(f"field 'chip' is only for family 'system', not {family!r}")
    notes = doc.get("notes", "")
    if not isinstance(notes, str):
        raise fail(f"field 'notes' must be a string, got {type(notes).__name__}")

    sources = doc.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise fail("[sources] must be a table of strings (key = \"citation\")")

    raw = doc.get("figures")
    if not isinstance(raw, dict):
        raise fail("missing table [figures]")
    cls = SPEC_CLASSES[family]
    expected = [f.name for f in fields(cls)]
    for name in raw:
        if name not in expected:
            hint = _unit_hint(name, expected)
            raise fail(f"unknown field figures.{name} for family {family!r}{hint}")

    values: dict[str, float] = {}
    provenance: dict[str, Figure] = {}
    for name in expected:
        if name not in raw:
            if name in OPTIONAL.get(family, {}):
                values[name] = OPTIONAL[family][name]
                provenance[name] = Figure("A", "not present on this chip (field omitted)")
                continue
            what = f" ({TOPOLOGY})" if family == "system" else ""
            raise fail(f"missing field figures.{name}{what}")
        value, figure = _figure(raw[name], name, sources, origin)
        values[name] = value
        provenance[name] = figure
    if family == "system":
        return _system(doc, cls(**values), provenance, sources, notes, origin, resolve, fail)
    return Chip(
        id=doc["id"],
        name=doc["name"],
        family=family,
        spec=cls(**values),
        figures=MappingProxyType(provenance),
        sources=MappingProxyType(dict(sources)),
        notes=notes,
        path=origin,
    )


def _system(doc, spec: SystemSpec, provenance, sources, notes, origin, resolve, fail) -> Chip:
    if spec.devices_per_node > spec.devices or spec.devices % spec.devices_per_node:
        raise fail(f"field figures.devices_per_node ({spec.devices_per_node}) must divide figures.devices ({spec.devices})")
    if spec.devices > spec.devices_per_node and spec.inter_node_link_gb_s <= 0:
        raise fail("missing field figures.inter_node_link_gb_s (system topology): "
                   f"{spec.devices // spec.devices_per_node} nodes need a link between them")
    if spec.loader_workers_per_device > 0 and spec.loader_img_s_per_core <= 0:
        raise fail("missing field figures.loader_img_s_per_core: figures.loader_workers_per_device "
                   f"({spec.loader_workers_per_device}) prices a CPU data loader, which needs its images/s per core")
    if resolve is None:
        raise fail("a system spec needs its chip loaded: use ipuexplore.hardware.load_chip")
    try:
        device = resolve(doc["chip"])
    except ValueError as exc:
        raise fail(f"field 'chip': {exc}") from None
    if device.system is not None or device.family not in ("ipu", "gpu"):
        raise fail(f"field 'chip' must name an IPU or a GPU, got {doc['chip']!r} ({device.family})")
    return Chip(
        id=doc["id"],
        name=doc["name"],
        family=device.family,
        spec=device.spec,
        figures=MappingProxyType({**device.figures, **provenance}),
        sources=MappingProxyType({**device.sources, **sources}),
        notes=notes,
        path=origin,
        system=spec,
        device=device.id,
    )


def load_chip_file(path: str | Path, resolve: Callable[[str], Chip] | None = None) -> Chip:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read chip spec {str(path)!r}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: file is {size} bytes, larger than {MAX_FILE_BYTES}; not a chip spec")
    try:
        # Bounded read: a device or pipe reports size 0 and may never end (/dev/zero).
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() did
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; not a chip spec") from None
    except OSError as exc:  # a directory, a permission problem
        raise ValueError(f"cannot read chip spec {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: more than {MAX_FILE_BYTES} bytes; not a chip spec")
    return parse_chip(text, str(path), resolve)


def _figure(entry, name: str, sources: dict, origin: str) -> tuple[float, Figure]:
    where = f"{origin}: field figures.{name}"
    if isinstance(entry, dict):
        extra = set(entry) - {"value", "tag", "src", "note"}
        if extra:
            raise ValueError(f"{where}: unknown key {sorted(extra)[0]!r} (expected value, tag, src, note)")
        if "value" not in entry:
            raise ValueError(f"{where}: missing 'value'")
        value = entry["value"]
        tag = entry.get("tag", "U")
        if tag not in TAGS:
            raise ValueError(f"{where}: tag must be one of {sorted(TAGS)}, got {tag!r}")
        keys = entry.get("src", "")
        if not isinstance(keys, str):
            raise ValueError(f"{where}: src must be a string of source keys, got {keys!r}")
        texts = []
        for key in filter(None, (k.strip() for k in keys.split(","))):
            if key not in sources:
                raise ValueError(f"{where}: src {key!r} is not in [sources]")
            texts.append(f"{key}: {sources[key]}")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise ValueError(f"{where}: note must be a string")
        text = "; ".join(texts + ([note] if note else [])) or "no source given"
        figure = Figure(tag, text)
    else:
        value = entry
        figure = Figure("U", f"user value from {origin}, no source given")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: must be finite, got {value!r}")
    if name in INT_FIELDS:
        if float(value) != int(value):
            raise ValueError(f"{where}: must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)  # `900` and `900.0` are the same figure
    low, high = RANGES[name]
    if value <= 0 and low > 0:
        raise ValueError(f"{where}: must be > 0, got {value!r}")
    if not low <= value <= high:
        raise ValueError(
            f"{where}: {value!r} is outside the plausible range [{low:g}, {high:g}]; "
            f"check the units in the field name"
        )
    return value, figure


def _near_field(text: str, message: str) -> str:
    """' near field X' for the line a TOML error points at, when that line assigns a key."""
    match = re.search(r"at line (\d+)", message)
    lines = text.splitlines()
    if match:
        number = int(match.group(1))
    elif "at end of document" in message:  # truncated: the last line is the broken one
        number = len(lines)
    else:
        return ""
    line = lines[number - 1] if 0 < number <= len(lines) else ""
    key = line.split("=", 1)[0].strip() if "=" in line else ""
    return f" near field {key!r}" if re.fullmatch(r"[A-Za-z0-9_.-]+", key) else ""


def _unit_hint(name: str, expected: list[str]) -> str:
    """Suggest the right field when only the unit suffix differs (``hbm_bw_tb_s``)."""
    near = difflib.get_close_matches(name, expected, n=1, cutoff=0.75)
    if near:
        return f" (did you mean {near[0]}? units are part of the field name)"
    return ""
