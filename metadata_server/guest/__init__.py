"""The routes guests call, mirroring engine/guest/: thin blueprints that call `service().guest` (and
read settings) alone; the package itself imports nothing.

The routes guests call, mirroring engine/guest/; each module is a thin blueprint that reaches the
engine through `engine.service` (Service.guest), `engine.errors` and `engine.config` alone.

- native.py    Hearth's own guest API (/guest/v1/...: metadata, signals, progress, rotation)
- cfn.py       POLL_SERVER_CFN: Heat's CFN API at /v1/
- keystone.py  POLL_SERVER_HEAT and HEAT_SIGNAL: Keystone v3 at /identity and the two Heat routes
- temp_url.py  POLL_TEMP_URL's collect URL, and TEMP_URL_SIGNAL's corner of Swift
- enrol.py     `hearth server bootstrap`: enrolment of pre-provisioned machines
"""
