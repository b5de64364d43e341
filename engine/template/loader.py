"""Load YAML (or JSON) text into plain data plus the line where every key and list item starts; fail
only with TemplateError. Pure: parses text it is given, opens no file."""

from __future__ import annotations

from typing import Any

import yaml

from engine.errors import TemplateError
from engine.template.snippets import Path, Snippet

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = (str, int, float, bool, type(None))

# Aliases can make a short text expand enormously ("billion laughs"). Without aliases a
# document cannot hold more values than it has characters, so this budget on top of the text's
# length only ever stops documents that expand through aliases.
_ALIAS_EXPANSION_BUDGET = 100_000
# Deeper than this, code that walks the data (validation, resolution) would run out of stack
# and the request would end in a 500; JSON request bodies have the same limit (max_json_depth).
MAX_DEPTH = 100


class _TemplateLoader(yaml.SafeLoader):
    """The safe loader with YAML timestamps kept as strings, as Heat keeps them.

    Pure Python on purpose: libyaml's composer recurses in C and can overflow the stack on a
    deeply nested document, while this one raises RecursionError, which we report.
    """

    yaml_constructors = {
        **yaml.SafeLoader.yaml_constructors,
        "tag:yaml.org,2002:timestamp": yaml.SafeLoader.construct_yaml_str,
    }


def load_yaml(text: str, filename: str, *, allow_empty: bool = False) -> tuple[Any, dict[Path, int]]:
    """Parse `text` into plain dicts, lists and scalars, and map each path to its 1-based line.

    Paths are tuples of mapping keys and list indices (`("resources", "web", "type")`,
    `("outputs", "ips", "value", "list_join", 1)`); `()` is the document itself. The document
    must be a mapping (or, with `allow_empty`, nothing at all, which loads as `{}`).
    """
    if not isinstance(text, str):
        raise TemplateError(f"expected YAML or JSON text, not {type(text).__name__}", file=filename)
    # Heat's words for a text that is no template; the top template is its "[root stack]".
    label = "[root stack]" if filename == "template" else filename
    loader = None
    try:
        # The reader checks the text for unprintable characters as it is constructed.
        loader = _TemplateLoader(text)
        node = loader.get_single_node()
        if node is None:
            if allow_empty:
                return {}, {(): 1}
            raise TemplateError(
                "Template not in valid format: Template format version not found.",
                file=filename,
                line=1,
                kind="HTTPBadRequest",
            )
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            raise TemplateError(
                "Template not in valid format: The template is not a JSON object "
                f"or YAML mapping. (it is {_kind(node)})",
                file=filename,
                line=node.start_mark.line + 1,
                kind="HTTPBadRequest",
            )
        builder = _Builder(loader, filename, budget=len(text) + _ALIAS_EXPANSION_BUDGET)
        data = builder.build(node, ())
        return data, builder.lines
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise TemplateError(
            f"Template not in valid format: Error parsing template {label} {error}",
            file=filename,
            line=mark.line + 1 if mark else None,
            kind="HTTPBadRequest",
        ) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        character = chr(error.character) if isinstance(error.character, int) else error.character
        raise TemplateError(f"invalid YAML: character {character!r} is not allowed", file=filename, line=line) from None
    except yaml.YAMLError as error:
        raise TemplateError(f"invalid YAML: {error}", file=filename) from None
    except RecursionError:
        raise TemplateError("the document is nested too deeply", file=filename) from None
    finally:
        if loader is not None:
            loader.dispose()


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return f"a {node.tag} mapping"
    return "a single value"


class _Builder:
    """Turns composed nodes into plain data, recording lines and refusing what JSON cannot hold."""

    def __init__(self, loader: yaml.SafeLoader, filename: str, budget: int):
        self.loader = loader
        self.filename = filename
        self.budget = budget
        self.lines: dict[Path, int] = {(): 1}
        # Collections being built right now: an alias back to one of them is a recursive
        # document, which has no plain-data form.
        self.active: set[int] = set()

    def error(self, message: str, node: yaml.Node, path: Path) -> TemplateError:
        return TemplateError(message, path=path, file=self.filename, line=node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.error("the document expands to too many values through aliases", node, path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if len(path) >= MAX_DEPTH:
            raise self.error(f"the document nests more than {MAX_DEPTH} levels deep", node, ())
        if id(node) in self.active:
            raise self.error("an alias refers to a collection that contains it", node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                return self.mapping(node, path)
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                return self.sequence(node, path)
            raise self.error(f"unsupported YAML tag {node.tag!r}", node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as error:
            raise self.error(f"invalid YAML: {error.problem or error.context}", node, path) from None
        except (yaml.YAMLError, ValueError, OverflowError):
            # For example an integer with more digits than Python converts from text.
            raise self.error(f"invalid {node.tag.rsplit(':', 1)[-1]} value", node, path) from None
        if not isinstance(value, _SCALARS):
            raise self.error(f"unsupported YAML tag {node.tag!r}", node, path)
        return value

    def sequence(self, node: yaml.SequenceNode, path: Path) -> list[Snippet]:
        items = []
        for index, item in enumerate(node.value):
            self.lines[path + (index,)] = item.start_mark.line + 1
            items.append(self.build(item, path + (index,)))
        return items

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Snippet]:
        # Keys are scalars: text, numbers, booleans, null or dates.
        merged: dict[Any, Snippet] = {}
        explicit: dict[Any, Snippet] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for key, value in self.merge_sources(value_node, path):
                    merged.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error("mapping keys must be strings or numbers", key_node, path)
            key = self.scalar(key_node, path)
            if key in explicit:
                raise self.error(f"duplicate key {key!r}", key_node, path + (key,))
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            explicit[key] = self.build(value_node, path + (key,))
        # Keys written in the mapping override keys merged into it with `<<`.
        merged.update(explicit)
        return merged

    def merge_sources(self, node: yaml.Node, path: Path) -> list[tuple[Any, Any]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        pairs: list[tuple[Any, Any]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.error("a merge key '<<' needs a mapping or a list of mappings", source, path)
            pairs.extend(self.build(source, path).items())
        return pairs
