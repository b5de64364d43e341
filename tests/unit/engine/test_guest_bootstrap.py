"""The agent's bootstrap document (engine.guest.enrol, engine.guest.urls.guest_bases): `base_urls`
lists public_url and then the `guest_urls` setting, and `base_url` stays for older agents;
through the enrolment API of a real server too."""

from __future__ import annotations

from engine.guest import urls
from engine.guest.enrol import bootstrap_document
from tests.support import start_server, stop_server

SERVER_ONLY = """
heat_template_version: 2018-08-31
resources:
  server: {type: OS::Nova::Server, properties: {image: any, flavor: any}}
"""


def test_guest_bases_put_public_url_first_without_slashes_blanks_or_repeats():
    assert urls.guest_bases("http://a:8004", "") == ["http://a:8004"]
    assert urls.guest_bases("http://a:8004/", " http://b:8004/ ,,http://a:8004, http://c") == [
        "http://a:8004",
        "http://b:8004",
        "http://c",
    ]


def test_the_document_keeps_base_url_and_lists_the_replicas_after_it():
    document = bootstrap_document("http://a", "srv", "hgs_x", guest_urls="http://b,http://c")
    assert document["base_url"] == "http://a"
    assert document["base_urls"] == ["http://a", "http://b", "http://c"]
    assert document["metadata_url"] == "http://a/guest/v1/servers/srv/metadata"
    assert bootstrap_document("http://a", "srv", "hgs_x")["base_urls"] == ["http://a"]


def test_an_enrolled_machine_is_given_every_replica(tmp_path):
    hearth = start_server(tmp_path, compute="deployed", guest_urls="http://replica-b:8004/, http://replica-c:8004")
    try:
        hearth.create_stack("enrol", SERVER_ONLY)
        hearth.wait_stack("enrol", ("CREATE_COMPLETE",))
        server_id = hearth.resources("enrol")["server"]["physical_resource_id"]
        answer = hearth.http.post(f"{hearth.api}/servers/{server_id}/bootstrap", timeout=30)
        assert answer.status_code == 201, answer.text
        document = answer.json()["bootstrap"]
    finally:
        stop_server(hearth)
    assert document["base_url"] == hearth.url
    assert document["base_urls"] == [hearth.url, "http://replica-b:8004", "http://replica-c:8004"]
    assert document["metadata_url"].startswith(hearth.url + "/guest/v1/servers/")
