"""The resource graph of a stack page, laid out in layers for an inline SVG: pure, from the
resource views the API gives (`required_by`, `resource_status`, the `nested` link).

A resource's layer is one more than the deepest layer of what it requires (its requirements
are the resources whose `required_by` names it), so every edge points rightwards; within a
layer resources keep name order. A cycle (which the engine never stores) is cut where found.
"""

from __future__ import annotations

from dataclasses import dataclass

BOX_W, BOX_H = 170, 40
GAP_X, GAP_Y = 60, 16
MARGIN = 8


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    status: str
    x: int
    y: int
    nested: str | None  # the nested stack's id, when the resource owns one

    @property
    def tone(self) -> str:
        return tone(self.status)


@dataclass(frozen=True)
class Edge:
    start: tuple[int, int]
    end: tuple[int, int]
    source: str
    target: str


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def tone(status: str | None) -> str:
    """A status's colour class: failed, progress, complete or other."""
    status = status or ""
    if status.endswith("FAILED"):
        return "failed"
    if status.endswith("IN_PROGRESS"):
        return "progress"
    if status.endswith("COMPLETE"):
        return "complete"
    return "other"


def nested_id(resource: dict) -> str | None:
    for link in resource.get("links") or []:
        if link.get("rel") == "nested":
            return str(link.get("href", "")).rstrip("/").rsplit("/", 1)[-1] or None
    return None


def layers(resources: list[dict]) -> dict[str, int]:
    names = {r["resource_name"] for r in resources}
    requires: dict[str, set[str]] = {name: set() for name in names}
    for resource in resources:
        for dependent in resource.get("required_by") or []:
            if dependent in requires:
                requires[dependent].add(resource["resource_name"])
    found: dict[str, int] = {}

    def layer(name: str, visiting: frozenset[str]) -> int:
        if name in found:
            return found[name]
        below = [layer(r, visiting | {name}) for r in sorted(requires[name]) if r not in visiting]
        found[name] = 1 + max(below) if below else 0
        return found[name]

    for name in sorted(names):
        layer(name, frozenset())
    return found


def layout(resources: list[dict]) -> Layout:
    depth = layers(resources)
    columns: dict[int, list[dict]] = {}
    for resource in sorted(resources, key=lambda r: r["resource_name"]):
        columns.setdefault(depth[resource["resource_name"]], []).append(resource)
    nodes: dict[str, Node] = {}
    for column, members in columns.items():
        for row, resource in enumerate(members):
            name = resource["resource_name"]
            nodes[name] = Node(
                name=name,
                type=resource.get("resource_type", ""),
                status=resource.get("resource_status", ""),
                x=MARGIN + column * (BOX_W + GAP_X),
                y=MARGIN + row * (BOX_H + GAP_Y),
                nested=nested_id(resource),
            )
    edges = []
    for resource in resources:
        source = nodes[resource["resource_name"]]
        for dependent in sorted(resource.get("required_by") or []):
            target = nodes.get(dependent)
            if target is not None and target.x > source.x:
                edges.append(
                    Edge(
                        (source.x + BOX_W, source.y + BOX_H // 2),
                        (target.x, target.y + BOX_H // 2),
                        source.name,
                        target.name,
                    )
                )
    width = MARGIN * 2 + (max(columns, default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + max((len(m) for m in columns.values()), default=1) * (BOX_H + GAP_Y) - GAP_Y
    return Layout(sorted(nodes.values(), key=lambda n: (n.x, n.y)), edges, width, height)
