"""Run by a peer venv's python: `heat deployment-create` with its default TEMP_URL_SIGNAL,
exactly as heatclient's shell runs it (heatclient.v1.shell.do_deployment_create), except for
the one part that needs a Keystone: the session's auth plugin, which here answers the token and
the catalog's object-store endpoint it is given.

    python heatclient_temp_url.py ORCHESTRATION_URL OBJECT_STORE_URL TOKEN CONFIG_ID SERVER NAME

prints the deployment the command printed (JSON).
"""
import argparse
import sys

from heatclient import client as heat_client
from heatclient.v1 import shell


class CatalogAuth:
    """What keystoneauth's plugin gives heatclient: a token, and endpoints by service type."""

    def __init__(self, token, endpoints):
        self.token, self.endpoints = token, endpoints

    def get_token(self, session):
        return self.token

    def get_endpoint(self, session, service_type=None, region_name=None, **kwargs):
        return self.endpoints[service_type]


def main(orchestration, object_store, token, config_id, server, name):
    hc = heat_client.Client("1", endpoint=orchestration, token=token)
    hc.http_client.auth = CatalogAuth(token, {"orchestration": orchestration, "object-store": object_store})
    hc.http_client.session = None
    # The arguments heat's parser makes for `deployment-create -c CONFIG -s SERVER NAME`.
    args = argparse.Namespace(config=config_id, server=server, name=name, action="UPDATE", input_value=[],
                              signal_transport="TEMP_URL_SIGNAL", container=None, timeout=60,
                              os_no_client_auth=False, os_region_name=None, os_project_name="admin",
                              os_tenant_name=None, os_username=None, os_cacert=None, insecure=False)
    shell.do_deployment_create(hc, args)


if __name__ == "__main__":
    main(*sys.argv[1:7])
