"""service.facts, the users' door to a stack tree's facts (docs/facts.md): list (with a blocking
read), show, set (with compare-and-set) and delete; finds the stack through the stacks part and
leaves the rest to engine/facts/. A user may write any key; the facts addressed through a nested
stack are its tree's, kept with the root stack."""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidRequest
from engine.facts import store
from engine.facts.book import FactBook
from engine.runtime import Runtime
from engine.service.stacks import Stacks

SET_KEYS = ("value",)


class Facts:
    """`service.facts`."""

    def __init__(self, runtime: Runtime, stacks: Stacks):
        self.runtime = runtime
        self.stacks = stacks
        self.book = FactBook(runtime)

    def root_id(self, project: str, stack_id: str) -> str:
        """The id of the root of the live stack's tree, where its facts are kept."""
        stack = self.stacks.live_stack(project, stack_id)
        with self.runtime.store.session() as session:
            return store.root_of(session, stack.id).id

    def list_facts(
        self, project: str, stack_id: str, *, prefix: str = "", index: int | None = None, wait: float = 0
    ) -> dict[str, Any]:
        return self.book.listing(self.root_id(project, stack_id), prefix, index, wait)

    def show_fact(self, project: str, stack_id: str, key: str) -> dict[str, Any]:
        return self.book.one(self.root_id(project, stack_id), key)

    def set_fact(self, project: str, stack_id: str, key: str, body: Any, *, cas: int | None = None) -> dict[str, Any]:
        """`body` is {"value": any JSON}."""
        return self.book.write(self.root_id(project, stack_id), key, value_of(body, SET_KEYS), cas=cas)

    def delete_fact(self, project: str, stack_id: str, key: str, *, cas: int | None = None) -> dict[str, Any]:
        return self.book.erase(self.root_id(project, stack_id), key, cas=cas)


def value_of(body: Any, accepted: tuple[str, ...]) -> Any:
    """The `value` of a set request's body, or a 400 saying what the body must be."""
    if not isinstance(body, dict) or "value" not in body:
        raise InvalidRequest('a fact is set with a JSON object: {"value": <any JSON value>}')
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unknown field (known: {', '.join(accepted)})")
    return body["value"]
