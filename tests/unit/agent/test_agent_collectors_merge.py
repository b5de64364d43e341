"""agent.collectors.merge: the documented merge order, with literals only."""

from agent.collectors.merge import digest, merge_documents


def test_later_documents_win_for_plain_keys():
    assert merge_documents([{"a": 1, "b": {"x": 1}}, {"b": {"y": 2}}, {"c": 3}]) == {
        "a": 1,
        "b": {"y": 2},
        "c": 3,
    }  # shallow: the whole value of "b" is replaced


def test_deployments_are_combined_by_id_later_wins_sorted_by_name():
    hearth = {"deployments": [{"id": "1", "name": "20_b", "v": "hearth"}, {"id": "2", "name": "10_a"}]}
    local = {"deployments": [{"id": "1", "name": "20_b", "v": "local"}, {"id": "3", "name": "05_first"}]}
    assert merge_documents([hearth, local])["deployments"] == [
        {"id": "3", "name": "05_first"},
        {"id": "2", "name": "10_a"},
        {"id": "1", "name": "20_b", "v": "local"},
    ]
    assert merge_documents([local, hearth])["deployments"][2]["v"] == "hearth"


def test_entries_without_an_id_are_kept_and_bad_lists_ignored():
    merged = merge_documents(
        [{"deployments": [{"name": "b"}, "junk"]}, {"deployments": None}, {"deployments": [{"id": "x", "name": "a"}]}]
    )
    assert merged["deployments"] == ["junk", {"id": "x", "name": "a"}, {"name": "b"}]
    assert "deployments" not in merge_documents([{"deployments": "nope"}, {"k": 1}])


def test_nothing_to_merge():
    assert merge_documents([]) == {}


def test_digest_ignores_key_order():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
