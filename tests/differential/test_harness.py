"""The differential harness's normalising, with literals: member names, redactions, placeholders."""

from __future__ import annotations

from tests.differential.harness import Case, Normaliser, canonical


def _case(**spec) -> Case:
    return Case("scaling/example", {"steps": [], **spec})


def test_member_names_are_numbered_by_first_appearance_and_keep_their_identity():
    normaliser = Normaliser(_case(member_names=True), {"k5rbtlzgmt7v", "3wtnqhnjdylo"})
    observed = normaliser.tree(
        {
            "resources": {"g/3wtnqhnjdylo": {}, "g/k5rbtlzgmt7v": {}},
            "refs": ["d-scaling-example-g-abcdefghijkl-k5rbtlzgmt7v-mnopqrstuvwx"],
            "events": ["Stack CREATE completed successfully"],
        }
    )
    assert list(observed["resources"]) == ["g/<member:1>", "g/<member:2>"]
    assert observed["refs"] == ["d-scaling-example-g-<short-id>-<member:2>-<short-id>"]
    assert observed["events"] == ["Stack CREATE completed successfully"]


def test_member_names_are_left_alone_unless_the_case_asks():
    assert Normaliser(_case(), {"k5rbtlzgmt7v"}).text("g/k5rbtlzgmt7v") == "g/k5rbtlzgmt7v"


def test_redactions_keep_the_shape_of_a_signed_url():
    normaliser = Normaliser(_case(redact=["(?<=AWSAccessKeyId=)[0-9a-f]{32}", "(?<=Signature=)[A-Za-z0-9%._~-]+"]))
    url = "http://127.0.0.1:8000/v1/signal/arn?AWSAccessKeyId=" + "ab" * 16 + "&Signature=y7341%2FwM%3D"
    assert normaliser.text(url) == "<endpoint>/v1/signal/arn?AWSAccessKeyId=<redacted>&Signature=<redacted>"


def test_canonical_numbers_members_and_ids_apart_in_sorted_key_order():
    observed = {"b": ["<member:1>", "<uuid:1>"], "a": ["<member:2>", "<uuid:2>"]}
    assert canonical(observed) == {"b": ["<member:2>", "<uuid:2>"], "a": ["<member:1>", "<uuid:1>"]}
