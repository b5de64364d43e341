"""engine.service.stacks: a stack created for a person and the delegation the engine later acts
under (Heat's trust) are written in one transaction: both or neither."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.identity import Principal
from engine.store.models import Delegation, Event, Resource, Stack

TEMPLATE = "heat_template_version: 2018-08-31\nresources:\n  nothing: {type: OS::Heat::None}\n"


class UndelegablePrincipal(Principal):
    """A principal whose delegation cannot be written: its role is asked for as the delegation
    is made, after the stack's rows were added to the transaction."""

    def role_in(self, project: str) -> str | None:
        raise RuntimeError("no role can be read")


def test_a_created_stack_has_its_delegation_from_the_same_transaction(service):
    ann = Principal("u-ann", "ann", "t-ann", {"admin": "member"})
    stack = service.stacks.create_stack(
        "admin", {"stack_name": "held", "template": TEMPLATE}, username="ann", delegate=ann
    )
    with service.runtime.store.session() as session:
        (delegation,) = session.scalars(select(Delegation).where(Delegation.stack_id == stack["id"]))
        row = session.get(Stack, stack["id"])
        assert (delegation.user_id, delegation.project_id, delegation.role) == ("u-ann", "admin", "member")
        assert delegation.created_at == row.created_at  # one clock reading: one unit of work
        assert delegation.revoked_at is None


def test_no_stack_is_left_when_its_delegation_cannot_be_recorded(service):
    body = {"stack_name": "lost", "template": TEMPLATE}
    with pytest.raises(RuntimeError, match="no role"):
        service.stacks.create_stack(
            "admin", body, username="ann", delegate=UndelegablePrincipal("u-ann", "ann", "t-ann")
        )
    with service.runtime.store.session() as session:
        assert session.scalar(select(Stack.id).where(Stack.name == "lost")) is None
        assert not list(session.scalars(select(Resource.id)))
        assert not list(session.scalars(select(Event.id)))
        assert not list(session.scalars(select(Delegation.id)))
    # The name is free: nothing of the refused create holds it.
    stack = service.stacks.create_stack("admin", body)
    assert stack["stack_name"] == "lost"


def test_a_stack_made_through_the_engine_alone_has_no_delegation(service):
    stack = service.stacks.create_stack("admin", {"stack_name": "bare", "template": TEMPLATE})
    with service.runtime.store.session() as session:
        assert not list(session.scalars(select(Delegation).where(Delegation.stack_id == stack["id"])))
