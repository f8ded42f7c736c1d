"""General-purpose instruction data, mixed into both training stages (SPEC §4) so that the
fine-tuned VLM keeps following instructions about real photos.

:class:`ConversationDataset` reads two common layouts into :class:`ConversationSample`:

- LLaVA-style JSONL, one record per line::

      {"image": "rel.jpg" | ["a.jpg", "b.jpg"], "conversations": [
          {"from": "human", "value": "<image>\\nWhat is this?"}, {"from": "gpt", "value": "..."}]}

  image paths relative to the JSONL file's folder; ``image`` may be absent (text only);
- Parquet with a ``messages`` column (a JSON string, or a list of ``{role, content}`` structs,
  ``content`` a string or a list of ``{"type": "image"}`` / ``{"type": "text", "text": ...}``
  parts) and an optional ``images`` column (a list of encoded image bytes, or of
  ``{bytes, path}`` structs as the ``datasets`` library writes them).

Roles ``human``/``gpt`` become ``user``/``assistant``; ``<image>`` marks where an image goes
(none at all: the images go before the first user turn). The messages are read and checked
when the dataset opens, so a malformed record fails at once, naming file and line or row;
images are decoded on access (they can be far larger than memory), an unreadable one named
with its record.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image

from gene_perception.models import ConversationSample

IMAGE_MARKER = "<image>"
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "system": "system"}


class SftDataError(ValueError):
    """A general instruction file or record that cannot be read; names file and line / row."""


@dataclass
class _Record:
    where: str  #: "FILE:LINE" or "FILE: row N", for errors
    messages: list[dict[str, str]]
    images: list[Path]  #: JSONL: image files
    row: tuple[int, int, int] | None = None  #: Parquet: (file, row group, row in group)


class ConversationDataset:
    """General instruction samples from JSONL and Parquet files (module docstring);
    ``dataset[i]`` is a :class:`ConversationSample` with RGB images."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.records: list[_Record] = []
        #: Parquet files and whether they have an ``images`` column (no open handles are kept,
        #: so the dataset pickles into DataLoader workers)
        self._parquet: list[tuple[Path, bool]] = []
        self._group_cache: tuple[tuple[int, int], list[Any]] | None = None
        for path in map(Path, paths):
            if not path.is_file():
                raise SftDataError(f"{path}: no such file")
            if path.suffix == ".jsonl":
                self._read_jsonl(path)
            elif path.suffix == ".parquet":
                self._read_parquet(path)
            else:
                raise SftDataError(f"{path}: expected a .jsonl or .parquet file")
        if not self.records:
            raise SftDataError(f"no samples in {', '.join(map(str, paths)) or 'no files'}")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> ConversationSample:
        record = self.records[i]
        if record.row is None:
            images = [_decode(lambda p=path: p.read_bytes(), record.where, str(path))
                      for path in record.images]
        else:
            images = [_decode(lambda b=data: b, record.where, f"image {k}")
                      for k, data in enumerate(self._row_images(record))]
        markers = sum(m["content"].count(IMAGE_MARKER) for m in record.messages)
        if markers not in (0, len(images)):
            raise SftDataError(f"{record.where}: {len(images)} images but {markers} "
                               f"{IMAGE_MARKER} markers")
        return ConversationSample(images, [dict(m) for m in record.messages])

    # ---- JSONL

    def _read_jsonl(self, path: Path) -> None:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{n}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SftDataError(f"{where}: not JSON ({exc.msg})") from None
                if not isinstance(obj, dict) or not isinstance(obj.get("conversations"), list):
                    raise SftDataError(f"{where}: expected an object with a 'conversations' "
                                       f"list")
                image = obj.get("image", [])
                names = [image] if isinstance(image, str) else image
                if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                    raise SftDataError(f"{where}: 'image' must be a path or a list of paths")
                turns = [(t.get("from"), t.get("value")) if isinstance(t, dict) else (None, None)
                         for t in obj["conversations"]]
                self.records.append(_Record(where, _messages(turns, where),
                                            [path.parent / x for x in names]))

    # ---- Parquet

    def _read_parquet(self, path: Path) -> None:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(str(path))
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError ...
            raise SftDataError(f"{path}: not a readable Parquet file ({exc})") from None
        names = pf.schema_arrow.names
        if "messages" not in names:
            raise SftDataError(f"{path}: no 'messages' column (columns: {', '.join(names)})")
        file_index = len(self._parquet)
        self._parquet.append((path, "images" in names))
        row = 0
        for group in range(pf.num_row_groups):
            column = pf.read_row_group(group, columns=["messages"]).column("messages")
            for k, value in enumerate(column.to_pylist()):
                where = f"{path}: row {row}"
                self.records.append(_Record(where, _messages(_parquet_turns(value, where),
                                                             where),
                                            [], (file_index, group, k)))
                row += 1

    def _row_images(self, record: _Record) -> list[bytes]:
        """A Parquet record's encoded images (its row group's column read once, kept while
        the following records come from the same group)."""
        import pyarrow.parquet as pq

        f, group, k = record.row
        path, has_images = self._parquet[f]
        if not has_images:
            return []
        if self._group_cache is None or self._group_cache[0] != (f, group):
            table = pq.ParquetFile(str(path)).read_row_group(group, columns=["images"])
            self._group_cache = ((f, group), table.column("images").to_pylist())
        value = self._group_cache[1][k]
        if value is None:
            return []
        if not isinstance(value, list):
            raise SftDataError(f"{record.where}: 'images' must be a list")
        out = []
        for j, item in enumerate(value):
            data = item.get("bytes") if isinstance(item, dict) else item
            if not isinstance(data, bytes):
                raise SftDataError(f"{record.where}: image {j} is not encoded image bytes")
            out.append(data)
        return out


def _parquet_turns(value: Any, where: str) -> list[tuple[Any, Any]]:
    """``(role, text)`` pairs of a Parquet ``messages`` cell."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SftDataError(f"{where}: 'messages' is not JSON ({exc.msg})") from None
    if not isinstance(value, list):
        raise SftDataError(f"{where}: 'messages' must be a list of {{role, content}}")
    turns = []
    for m in value:
        if not isinstance(m, dict):
            raise SftDataError(f"{where}: each message must be a {{role, content}} object")
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "image":
                    parts.append(IMAGE_MARKER)
                elif kind == "text" and isinstance(part.get("text"), str):
                    parts.append(part["text"])
                else:
                    raise SftDataError(f"{where}: content parts must be {{type: image}} or "
                                       f"{{type: text, text}}")
            content = "".join(parts)
        turns.append((m.get("role"), content))
    return turns


def _messages(turns: list[tuple[Any, Any]], where: str) -> list[dict[str, str]]:
    """Checked ``[{role, content}]`` with our role names; at least one assistant answer."""
    out = []
    for k, (role, text) in enumerate(turns):
        if role not in ROLES:
            raise SftDataError(f"{where}: turn {k}: unknown role {role!r} (expected one of "
                               f"{', '.join(ROLES)})")
        if not isinstance(text, str):
            raise SftDataError(f"{where}: turn {k}: the text must be a string")
        if ROLES[role] == "assistant" and IMAGE_MARKER in text:
            raise SftDataError(f"{where}: turn {k}: {IMAGE_MARKER} in an answer")
        out.append({"role": ROLES[role], "content": text})
    if not any(m["role"] == "assistant" for m in out):
        raise SftDataError(f"{where}: no answer (gpt / assistant turn) to learn from")
    return out


def _decode(read: Callable[[], bytes], where: str, name: str) -> Image.Image:
    """Read and decode one image as RGB; errors name the record and the image."""
    try:
        image = Image.open(io.BytesIO(read()))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SftDataError(f"{where}: unreadable image {name} ({exc})") from None
    return image.convert("RGB")
