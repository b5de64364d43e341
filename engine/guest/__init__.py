"""Everything a guest talks to (credentials, metadata, signals, transports, boot data); the package
itself imports nothing and touches nothing.

- service.py     GuestService, the guest API's operations (metadata long-poll, signals, rotation)
- urls.py        every guest URL shape, one function each
- credentials.py bearer credentials and pre-signed URLs
- metadata.py    the server's metadata document: its `deployments` list, rebuilt and published
- signals.py     what a deployment signal means, and how handle signals are numbered
- transports/    the metadata transports a stock image polls (TRANSPORTS)
- enrol.py, userdata.py, liveness.py  enrolment, boot user data, agents seen and gone

Import the module you need (``from engine.guest.service import GuestService``): the package
itself imports nothing, so that its modules can import one another without a cycle.
"""
