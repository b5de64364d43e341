"""Heat's physical resource names (`STACK-RESOURCE-SHORTID`), for types whose id Heat builds so;
pure but for uuid4's randomness, no I/O."""

from __future__ import annotations

import base64
import uuid

# Heat's Resource.physical_resource_name_limit.
NAME_LIMIT = 255


def short_id(source: uuid.UUID | None = None) -> str:
    """12 lower-case characters of base32 from a version-4 UUID's random time field, as
    Heat's heat.common.short_id.get_id derives them (letters and the digits 2-7)."""
    source = source or uuid.uuid4()
    bits = source.time << 4  # the 60 random bits, padded to 64 on the right
    return base64.b32encode(bits.to_bytes(8, "big")).decode("ascii")[:12].lower()


def physical_resource_name(stack_name: str, resource_name: str, limit: int = NAME_LIMIT) -> str:
    """`STACK-RESOURCE-SHORTID`; a name longer than `limit` keeps its first two characters, a
    hyphen and its end (Heat's reduce_physical_resource_name)."""
    return reduced_name(f"{stack_name.rstrip('*')}-{resource_name}-{short_id()}", limit)


def reduced_name(name: str, limit: int = NAME_LIMIT) -> str:
    """A name longer than `limit` keeps its first two characters, a hyphen and its end."""
    if len(name) <= limit:
        return name
    return name[:2] + "-" + name[-(limit - 3) :]
